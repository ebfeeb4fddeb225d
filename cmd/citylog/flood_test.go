package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startServe makes a log and starts a real citylog serve on it on
// 127.0.0.1 under a descriptor limit of nofile (a shell's ulimit), and
// returns its address, a token, and what it logged so far.
func startServe(t *testing.T, nofile int, args ...string) (addr, token string, logged func() string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "reg")
	if out, err := citylogCmd("init", "--dir", dir, "--origin", "flood.example/log").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := citylogCmd("token", "add", "city", "--dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	token = strings.TrimSpace(string(out))
	addr, logged = startServeLimited(t, dir, nofile, args...)
	return addr, token, logged
}

// startServeIn starts a real citylog serve on the log at dir.
func startServeIn(t *testing.T, dir string) (addr string, logged func() string) {
	return startServeLimited(t, dir, 4096)
}

func startServeLimited(t *testing.T, dir string, nofile int, args ...string) (addr string, logged func() string) {
	t.Helper()
	serve := append([]string{"serve", "--dir", dir, "--listen", "127.0.0.1:0", "--interval", "5ms"}, args...)
	cmd := citylogCmd(serve...)
	// exec through sh to lower the descriptor limit of the server alone.
	sh := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile))
	sh.Args = append(sh.Args, append([]string{cmd.Path}, serve...)...)
	sh.Env = cmd.Env
	stderr, _ := sh.StderrPipe()
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sh.Process.Kill(); sh.Wait() })
	var mu sync.Mutex
	var all strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		var l struct{ Msg, Addr string }
		json.Unmarshal(sc.Bytes(), &l)
		if l.Msg == "serving" {
			addr = l.Addr
			break
		}
	}
	go func() {
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	if addr == "" {
		t.Fatalf("serve did not start:\n%s", all.String())
	}
	return addr, func() string { mu.Lock(); defer mu.Unlock(); return all.String() }
}

// TestServeSurvivesConnectionFlood: a server whose descriptor limit is
// 400 (so its default cap is 144 connections, 18 per address) is flooded
// from 127.0.0.1 with 800 connections (more than twice its cap, and twice
// its descriptors) that send their headers a byte at a time and reconnect
// as soon as they are dropped,
// while a city on 127.0.0.2 keeps allocating. The city keeps being
// served, the writer never fails, and allocation works after the flood
// without a restart.
func TestServeSurvivesConnectionFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a server for seconds")
	}
	addr, token, logged := startServe(t, 400, "--header-timeout", "1s")
	if !strings.Contains(logged(), `"max_conns":144`) || !strings.Contains(logged(), `"max_conns_per_addr":18`) {
		t.Fatalf("the caps do not follow the descriptor limit:\n%s", logged())
	}
	city := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	allocate := func(i int) (int, error) {
		body := fmt.Sprintf(`{"country":"DE","subdivision":"BY","name":"T%d","ids":["geonames:%d"]}`, i, i+1)
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/allocate", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := city.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if st, err := allocate(0); st != 200 {
		t.Fatalf("before the flood: %d %v", st, err)
	}

	ctx, stop := context.WithCancel(context.Background())
	var held, dials atomic.Int64
	var flood sync.WaitGroup
	for range 800 {
		flood.Add(1)
		go func() {
			defer flood.Done()
			for ctx.Err() == nil {
				c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}).DialContext(ctx, "tcp", addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				dials.Add(1)
				held.Add(1)
				for _, b := range []byte("POST /api/v1/allocate HTTP/1.1\r\nHost: x\r\n") {
					if ctx.Err() != nil {
						break
					}
					if _, err := c.Write([]byte{b}); err != nil {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				held.Add(-1)
				c.Close()
			}
		}()
	}
	served, failed := 0, 0
	var worst time.Duration
	deadline := time.Now().Add(4 * time.Second)
	for i := 1; time.Now().Before(deadline); i++ {
		start := time.Now()
		st, err := allocate(i)
		if st == 200 {
			served++
		} else {
			failed++
			t.Errorf("the city during the flood: %d %v", st, err)
		}
		worst = max(worst, time.Since(start))
	}
	stop()
	flood.Wait()
	t.Logf("during the flood: %d allocations served, %d failed, slowest %v; %d flood connections made", served, failed, worst, dials.Load())
	if served < 20 {
		t.Errorf("only %d allocations served during the flood", served)
	}
	if !strings.Contains(logged(), "connections refused at the cap") {
		t.Error("the server did not log refusing connections")
	}
	if strings.Contains(logged(), "batch failed") || strings.Contains(logged(), "writer stopped") {
		t.Errorf("the writer failed during the flood:\n%s", logged())
	}
	// After the flood: allocation and health, no restart.
	if st, err := allocate(100000); st != 200 {
		t.Errorf("after the flood: %d %v", st, err)
	}
	resp, err := city.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"ok"`) {
		t.Errorf("healthz after the flood: %d %s", resp.StatusCode, b)
	}
}
