//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citylog/citylog/internal/testenv"
)

// TestServeDiskFull fills the file system of a real citylog serve (a small
// tmpfs) while it allocates, then frees it: while full, requests get 503
// and /healthz says degraded and why; once space is back the server
// allocates again by itself, without a restart, and every code it
// answered is still there.
func TestServeDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs and fills it")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot mount a tmpfs to fill (%v: %s); run as root", err, strings.TrimSpace(string(out)))
		return
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })

	dir := filepath.Join(mnt, "reg")
	if out, err := citylogCmd("init", "--dir", dir, "--origin", "full.example/log").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := citylogCmd("token", "add", "city", "--dir", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(out))
	addr, logged := startServeIn(t, dir)
	post := func(i int) (int, map[string]any) {
		body := fmt.Sprintf(`{"country":"DE","subdivision":"BY","name":"T%d","ids":["geonames:%d"]}`, i, i+1)
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/allocate", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	health := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	codes := map[int]string{}
	for i := range 20 {
		st, m := post(i)
		if st != 200 {
			t.Fatalf("before the disk filled: %d %v", st, m)
		}
		codes[i] = m["code"].(string)
	}

	// Fill the file system to the last byte.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:1]); err != nil {
			break
		}
	}
	f.Close()
	full := 0
	for i := 20; i < 40; i++ {
		if st, _ := post(i); st == 503 {
			full++
		} else if st == 200 {
			t.Logf("request %d allocated on a full disk (it fitted)", i)
		}
	}
	if full == 0 {
		t.Fatal("no request was refused on a full disk")
	}
	if st, body := health(); st != 503 || !strings.Contains(body, "degraded") || !strings.Contains(body, "no space left on device") {
		t.Errorf("healthz on a full disk: %d %s", st, body)
	}

	os.Remove(filler)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, m := post(1000)
		if st == 200 {
			codes[1000] = m["code"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after space was freed: %d %v\n%s", st, m, logged())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st, body := health(); st != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("healthz after space was freed: %d %s", st, body)
	}
	for i, code := range codes {
		if st, m := post(i); st != 200 || m["code"] != code || m["existing"] != true {
			t.Errorf("request %d after the disk was full: %d %v, want %s existing", i, st, m, code)
		}
	}
	if !strings.Contains(logged(), "writer recovered") {
		t.Errorf("the server did not log its recovery:\n%s", logged())
	}
}
