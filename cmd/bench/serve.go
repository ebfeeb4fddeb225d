package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// benchServe starts citylog serve on a fresh log and drives it with
// clients concurrent allocation requests for d, reporting sustained
// allocations/s, latency percentiles and the server's peak RSS.
func benchServe(clients int, d, interval time.Duration, work string) error {
	bin, err := buildCommand("citylog", work)
	if err != nil {
		return err
	}
	dir := filepath.Join(work, fmt.Sprintf("serve-%d", time.Now().UnixNano()))
	defer os.RemoveAll(dir)
	if out, err := exec.Command(bin, "init", "--dir", dir, "--origin", "bench.citylog.example/log").CombinedOutput(); err != nil {
		return fmt.Errorf("init: %v: %s", err, out)
	}
	tok, err := exec.Command(bin, "token", "add", "bench", "--dir", dir).Output()
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	token := strings.TrimSpace(string(tok))
	srv, addr, err := startServer(bin, dir, interval)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}, Timeout: 30 * time.Second}
	url := "http://" + addr + "/api/v1/allocate"
	var mu sync.Mutex
	var lat []time.Duration
	var errs int
	// The first second (or two intervals) warms up connections and is not
	// measured: 512 connections opening at once would otherwise show up as
	// first-batch latency.
	warm := max(time.Second, 2*interval)
	start := time.Now()
	measureFrom := start.Add(warm)
	deadline := measureFrom.Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine, bad := runClient(client, url, token, c, measureFrom, deadline)
			mu.Lock()
			lat = append(lat, mine...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)
	rss := peakRSS(srv.Process.Pid)
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	if len(lat) == 0 {
		return fmt.Errorf("no request succeeded (%d errors)", errs)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration { return lat[int(float64(len(lat)-1)*p)] }
	fmt.Printf("citylog serve, %d clients, interval %v, %v: %d allocations, %.0f/s sustained, latency p50 %v p99 %v max %v, errors %d, server peak RSS %.1f MiB\n",
		clients, interval, d, len(lat), float64(len(lat))/elapsed.Seconds(), pct(.5).Round(time.Millisecond), pct(.99).Round(time.Millisecond),
		lat[len(lat)-1].Round(time.Millisecond), errs, rss)
	return nil
}

// startServer starts citylog serve on a free port and returns its address.
func startServer(bin, dir string, interval time.Duration) (*exec.Cmd, string, error) {
	srv := exec.Command(bin, "serve", "--dir", dir, "--listen", "127.0.0.1:0", "--interval", interval.String(), "--max-batch", "16384")
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		return nil, "", err
	}
	sc := bufio.NewScanner(stderr)
	addr := ""
	for sc.Scan() {
		var l struct{ Msg, Addr string }
		json.Unmarshal(sc.Bytes(), &l)
		if l.Msg == "serving" {
			addr = l.Addr
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	if addr == "" {
		srv.Process.Kill()
		return nil, "", fmt.Errorf("server did not start")
	}
	return srv, addr, nil
}

// peakRSS reads a process's peak resident set (VmHWM) in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb / 1024
		}
	}
	return 0
}

// runClient is one client: it allocates until deadline and returns the
// latencies of the requests it started after measureFrom, and its errors.
func runClient(client *http.Client, url, token string, c int, measureFrom, deadline time.Time) ([]time.Duration, int) {
	var mine []time.Duration
	bad := 0
	var body []byte
	// The client shares the 2 cores with the server: keep it cheap.
	for i := 0; time.Now().Before(deadline); i++ {
		n := c*10_000_000 + i
		body = append(body[:0], `{"country":"DE","subdivision":"BY","name":"Bench `...)
		body = strconv.AppendInt(body, int64(n), 10)
		body = append(body, `","ids":["geonames:`...)
		body = strconv.AppendInt(body, int64(n+1), 10)
		body = append(body, `"],"lat":48.1,"lon":11.5}`...)
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			bad++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			bad++
			continue
		}
		if t0.After(measureFrom) {
			mine = append(mine, time.Since(t0))
		}
	}
	return mine, bad
}
