package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/internal/testenv"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// s3Env starts a real S3 server with a fresh bucket and returns it and
// the environment that points citylog at it.
func s3Env(t *testing.T, bucket string) (*testenv.S3, []string) {
	t.Helper()
	srv := testenv.StartS3(t)
	s, err := s3store.New(s3store.Config{Bucket: bucket, Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return srv, append(os.Environ(), append(srv.Env(), "CITYLOG_TEST_MAIN=1")...)
}

func citylogIn(env []string, args ...string) *exec.Cmd {
	cmd := citylogCmd(args...)
	cmd.Env = env
	return cmd
}

// verifyBucket verifies the log in the bucket from scratch, as a city
// would: the checkpoint, then each code given, from the bucket.
func verifyBucket(t *testing.T, srv *testenv.S3, url, vkey string, codes []string) {
	t.Helper()
	cfg, err := s3store.FromEnv(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Endpoint, cfg.AccessKey, cfg.SecretKey, cfg.PathStyle = srv.Endpoint, srv.AccessKey, srv.SecretKey, true
	src, err := s3store.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	key, err := verifier.ParseKey(vkey)
	if err != nil {
		t.Fatal(err)
	}
	l := verifier.New(src, key)
	for _, c := range codes {
		if _, err := l.VerifyCode(context.Background(), c); err != nil {
			t.Errorf("%s in %s: %v", c, url, err)
		}
	}
}

// TestS3Log runs the operator CLI on a log whose public tree is in a real
// S3-compatible bucket: init, import, allocate with a receipt, status, and
// the same requests again, then verifies codes from the bucket.
func TestS3Log(t *testing.T) {
	srv, env := s3Env(t, "cities")
	dir := filepath.Join(t.TempDir(), "reg")
	out, err := citylogIn(env, "init", "--dir", dir, "--origin", "s3.example/log", "--storage", "s3://cities/log").Output()
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	vkey := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(dir, "public")); err == nil {
		t.Error("an S3 log made a local public/")
	}
	input := filepath.Join(t.TempDir(), "in.jsonl")
	var in bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&in, `{"country":"DE","subdivision":"BY","name":"Town %d","ids":["geonames:%d"]}`+"\n", i, i+1)
	}
	os.WriteFile(input, in.Bytes(), 0o644)
	out, err = citylogIn(env, "import", "--dir", dir, "--json", "--batch", "1000", input).Output()
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	var codes []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a ack
		json.Unmarshal([]byte(l), &a)
		codes = append(codes, a.Code)
	}
	if len(codes) != 3000 {
		t.Fatalf("import printed %d codes", len(codes))
	}
	// The web site lands in the bucket too, and an allocation brings it
	// up to date there.
	if out, err := citylogIn(env, "site", "--dir", dir, "--json").Output(); err != nil || !strings.Contains(string(out), `"to":3000`) {
		t.Fatalf("site: %v %s", err, out)
	}
	receipt := filepath.Join(t.TempDir(), "r.tlog-proof")
	out, err = citylogIn(env, "allocate", "--dir", dir, "--country", "FR", "--subdivision", "IDF", "--name", "Paris", "--id", "unlocode:FRPAR", "--receipt", receipt).Output()
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	paris := strings.Fields(string(out))[0]
	out, err = citylogIn(env, "status", "--dir", dir, "--json").Output()
	if err != nil || !strings.Contains(string(out), `"size":3001`) {
		t.Fatalf("status: %v %s", err, out)
	}
	// The same file again: every line existing, with its code.
	out, err = citylogIn(env, "import", "--dir", dir, "--json", input).Output()
	if err != nil {
		t.Fatalf("import again: %v", err)
	}
	for i, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a ack
		json.Unmarshal([]byte(l), &a)
		if !a.Existing || a.Code != codes[i] {
			t.Fatalf("line %d again: %+v, want %s existing", i+1, a, codes[i])
		}
	}
	verifyBucket(t, srv, "s3://cities/log", vkey, []string{codes[0], codes[1234], codes[2999], paris})
	// citylog serve on the bucket: its read path is the bucket, with the
	// tlog-tiles headers, so the server's URL is a log source too.
	serveCmd := citylogIn(env, "serve", "--dir", dir, "--listen", "127.0.0.1:0")
	addr := startServing(t, serveCmd)
	defer func() {
		serveCmd.Process.Signal(syscall.SIGTERM)
		serveCmd.Wait()
	}()
	for _, c := range []struct{ path, cache string }{
		{"checkpoint", "no-cache"},
		{"tile/entries/000", "public, max-age=31536000, immutable"},
		{"tile/0/011.p/185", "public, max-age=10"},
	} {
		resp, err := http.Get("http://" + addr + "/" + c.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != c.cache || resp.Header.Get("ETag") == "" {
			t.Errorf("GET %s from serve on a bucket: %d, Cache-Control %q, ETag %q; want 200, %q and an ETag",
				c.path, resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"), c.cache)
		}
	}
	for _, c := range []struct{ path, contentType, want string }{
		{"index.html", "text/html; charset=utf-8", "3,001 cities"},
		{"site/c/FR/IDF-0.html", "text/html; charset=utf-8", paris},
		{"site/c/DE/BY-29.json", "application/json", codes[2999]},
		{"site/feed.atom", "application/atom+xml", paris},
		{"site/meta.json", "application/json", `"size":3001`},
	} {
		resp, err := http.Get("http://" + addr + "/" + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != c.contentType || !bytes.Contains(body, []byte(c.want)) {
			t.Errorf("GET %s of the site in the bucket: %d, Content-Type %q, holding %q: %v; want 200, %q",
				c.path, resp.StatusCode, resp.Header.Get("Content-Type"), c.want, bytes.Contains(body, []byte(c.want)), c.contentType)
		}
	}
	for _, p := range []string{".citylog/claim", "missing"} {
		if resp, err := http.Get("http://" + addr + "/" + p); err != nil || resp.StatusCode != 404 {
			t.Errorf("GET %s from serve on a bucket: %v %v, want 404", p, resp.StatusCode, err)
		}
	}
	web, err := source.NewHTTP("http://"+addr, source.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := verifier.ParseKey(vkey)
	if _, err := verifier.New(web, key).VerifyCode(context.Background(), paris); err != nil {
		t.Errorf("%s through serve on the bucket: %v", paris, err)
	}
	r, err := os.ReadFile(receipt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.VerifyReceipt(r, key, nil); err != nil {
		t.Errorf("receipt: %v", err)
	}
}

// TestS3MachineLoss: the writer is killed in the middle of an import into
// a bucket; its state directory is then deleted but for the signing key,
// and a fresh state directory on "another machine" takes over the log
// with the key and the bucket alone (init --key). Every code printed
// before the kill is still there, with the same code.
func TestS3MachineLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 20,000 lines into a bucket")
	}
	srv, env := s3Env(t, "lost")
	dir := filepath.Join(t.TempDir(), "reg")
	out, err := citylogIn(env, "init", "--dir", dir, "--origin", "lost.example/log", "--storage", "s3://lost/log").Output()
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	vkey := strings.TrimSpace(string(out))
	input := filepath.Join(t.TempDir(), "in.jsonl")
	var in bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&in, `{"country":"DE","subdivision":"BY","name":"Town %d","ids":["geonames:%d"]}`+"\n", i, i+1)
	}
	os.WriteFile(input, in.Bytes(), 0o644)
	cmd := citylogIn(env, "import", "--dir", dir, "--json", "--batch", "500", input)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []ack
	br := bufio.NewReader(stdout)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		var a ack
		if json.Unmarshal([]byte(line), &a) != nil {
			t.Fatalf("bad line %q", line)
		}
		acked = append(acked, a)
		if len(acked) == 7300 {
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	cmd.Wait()
	if len(acked) < 7300 {
		t.Fatalf("import printed only %d lines", len(acked))
	}
	// The machine is lost; only the key was backed up.
	key, err := os.ReadFile(filepath.Join(dir, "state", "key"))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(dir)
	backup := filepath.Join(t.TempDir(), "key")
	os.WriteFile(backup, key, 0o600)
	fresh := filepath.Join(t.TempDir(), "new-machine")
	out, err = citylogIn(env, "init", "--dir", fresh, "--key", backup, "--storage", "s3://lost/log", "--json").Output()
	if err != nil || !strings.Contains(string(out), `"adopted":true`) || !strings.Contains(string(out), vkey) {
		t.Fatalf("init --key on the bucket: %v %s", err, out)
	}
	out, err = citylogIn(env, "import", "--dir", fresh, "--json", input).Output()
	if err != nil {
		t.Fatalf("import on the new machine: %v", err)
	}
	again := map[int]ack{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var a ack
		json.Unmarshal([]byte(l), &a)
		again[a.Line] = a
	}
	for _, a := range acked {
		if b := again[a.Line]; !b.Existing || b.Code != a.Code {
			t.Fatalf("line %d was acknowledged as %s before the loss, now %+v", a.Line, a.Code, b)
		}
	}
	if len(again) != 20000 {
		t.Errorf("the new machine answered %d lines", len(again))
	}
	verifyBucket(t, srv, "s3://lost/log", vkey, []string{acked[0].Code, acked[len(acked)-1].Code, again[20000].Code})
	// A key of another log is refused on this bucket.
	otherDir := filepath.Join(t.TempDir(), "other")
	if out, err := citylogIn(env, "init", "--dir", otherDir, "--origin", "lost.example/log", "--storage", "s3://lost/log").CombinedOutput(); err == nil {
		t.Errorf("a new key took over a bucket holding another key's log: %s", out)
	}
}
