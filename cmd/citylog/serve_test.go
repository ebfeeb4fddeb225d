package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
)

// TestServeSIGTERMUnderLoad sends SIGTERM to a real citylog serve while
// 32 clients allocate, then checks that every code it answered with 200 is
// in the log after a restart.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server under load")
	}
	dir := filepath.Join(t.TempDir(), "reg")
	if out, err := citylogCmd("init", "--dir", dir, "--origin", "serve.example/log").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := citylogCmd("token", "add", "load", "--dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	cmd := citylogCmd("serve", "--dir", dir, "--listen", "127.0.0.1:0", "--interval", "50ms")
	addr := startServing(t, cmd)
	var mu sync.Mutex
	acked := map[int]string{}
	var wg sync.WaitGroup
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c * 100000; ; i++ {
				body := fmt.Sprintf(`{"country":"DE","subdivision":"BY","name":"T%d","ids":["geonames:%d"]}`, i, i+1)
				req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/allocate", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				var out struct{ Code string }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return
				}
				mu.Lock()
				acked[i] = out.Code
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve exited with %v after SIGTERM", err)
	}
	if len(acked) < 50 {
		t.Fatalf("only %d acknowledged", len(acked))
	}
	w, err := log.Open(context.Background(), log.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var reqs []entry.Request
	var want []string
	for i, code := range acked {
		reqs = append(reqs, entry.Request{Country: "DE", Subdivision: "BY", Name: fmt.Sprint("T", i), IDs: []string{fmt.Sprint("geonames:", i+1)}})
		want = append(want, code)
	}
	res, err := w.Allocate(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range res {
		if !r.Existing || r.Code.String() != want[k] {
			t.Fatalf("acknowledged %s lost after SIGTERM: %+v", want[k], r)
		}
	}
	t.Logf("%d acknowledged before SIGTERM, all in the log", len(acked))
}

// startServing starts a citylog serve command and returns the address it
// reports; the rest of its log is drained.
func startServing(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var addr string
	for sc.Scan() {
		var l struct{ Msg, Addr string }
		json.Unmarshal(sc.Bytes(), &l)
		if l.Msg == "serving" {
			addr = l.Addr
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if addr == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("server did not report its address")
	}
	return addr
}

// TestServeKeepsSiteUpToDate: a log with a web site gets its new cities
// onto the site while citylog serve answers allocations, and a last
// update when it stops.
func TestServeKeepsSiteUpToDate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	for _, args := range [][]string{
		{"init", "--dir", dir, "--origin", "serve-site.example/log"},
		{"site", "--dir", dir},
	} {
		if out, err := citylogCmd(args...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	out, err := citylogCmd("token", "add", "t", "--dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	cmd := citylogCmd("serve", "--dir", dir, "--listen", "127.0.0.1:0", "--site-every", "10ms")
	addr := startServing(t, cmd)
	allocate := func(name, id string) string {
		body := fmt.Sprintf(`{"country":"FR","subdivision":"IDF","name":%q,"ids":[%q]}`, name, id)
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/allocate", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&a)
		if resp.StatusCode != 200 {
			t.Fatalf("allocate: %d", resp.StatusCode)
		}
		return a.Code
	}
	page := filepath.Join(dir, "public", "site", "c", "FR", "IDF-0.html")
	code := allocate("Paris", "unlocode:FRPAR")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(page); strings.Contains(string(b), code) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s", page, code)
		}
	}
	// Allocated just before stopping: on the site once stopped.
	last := allocate("Melun", "unlocode:FRMLN")
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(page); !strings.Contains(string(b), last) {
		t.Errorf("%s does not show %s, allocated before the server stopped", page, last)
	}
}
