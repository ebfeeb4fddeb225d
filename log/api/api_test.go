package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/tokens"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
	"github.com/valyala/fasthttp"
)

type testServer struct {
	dir   string
	url   string
	token string
	slow  string // a token limited to 2/s
	srv   *fasthttp.Server
	api   *Server
	w     *log.Writer
	// logged is what the server logged.
	logged *lockedBuffer
}

// lockedBuffer is a log sink safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, dir string) *testServer {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
		if _, err := log.Init(dir, "api.example/log"); err != nil {
			t.Fatal(err)
		}
	}
	ts := &testServer{dir: dir, logged: &lockedBuffer{}}
	path := filepath.Join(dir, log.StateDir, "tokens.json")
	var err error
	if ts.token, err = tokens.Add(path, fmt.Sprint("t", time.Now().UnixNano()), 0); err != nil {
		t.Fatal(err)
	}
	if ts.slow, err = tokens.Add(path, fmt.Sprint("s", time.Now().UnixNano()), 2); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(ts.logged, nil))
	checker, err := tokens.NewChecker(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	if ts.w, err = log.Open(context.Background(), log.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	ts.api = New(ts.w, Config{PublicDir: filepath.Join(dir, log.PublicDir), StateDir: filepath.Join(dir, log.StateDir),
		Tokens: checker, Interval: 20 * time.Millisecond, Logger: logger})
	go ts.api.Run()
	// The front citylog serve runs (the tests that start the handler by
	// httptest, in failure_test.go and s3_test.go, keep net/http's path).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.srv = ts.api.NewHTTPServer(Timeouts{Header: 5 * time.Second, Read: 15 * time.Second, Write: time.Minute, Idle: 30 * time.Second}, 4*entry.MaxRequestSize)
	go ts.srv.Serve(ln)
	ts.url = "http://" + ln.Addr().String()
	return ts
}

func (ts *testServer) stop() {
	ts.srv.Shutdown()
	ts.api.Close()
	ts.w.Close()
}

func (ts *testServer) post(t *testing.T, token, body string) (int, map[string]any) {
	req, _ := http.NewRequest("POST", ts.url+"/api/v1/allocate", strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func reqJSON(i int) string {
	return fmt.Sprintf(`{"country":"DE","subdivision":"BY","name":"Town %d","ids":["geonames:%d"]}`, i, i+1)
}

func TestAllocateAndVerify(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	status, out := ts.post(t, ts.token, `{"country":"CN","subdivision":"HE","name":"Shijiazhuang","ids":["unlocode:CNSJW","geonames:1795270"],"lat":38.04,"lon":114.51}`)
	if status != 200 || out["existing"] != false || out["code"] == "" {
		t.Fatalf("%d %v", status, out)
	}
	code := out["code"].(string)
	status, again := ts.post(t, ts.token, `{"country":"CN","subdivision":"HE","name":"Shijiazhuang","ids":["geonames:1795270"]}`)
	if status != 200 || again["code"] != code || again["existing"] != true {
		t.Fatalf("resubmission: %d %v", status, again)
	}
	// The server's URL is a log source: verify the code and the receipt.
	key, err := verifier.ParseKey(filepath.Join(ts.dir, log.StateDir, "vkey"))
	if err != nil {
		t.Fatal(err)
	}
	src, _ := source.NewHTTP(ts.url, source.HTTPOptions{})
	a, err := verifier.New(src, key).VerifyCode(context.Background(), code)
	if err != nil || a.Name != "Shijiazhuang" {
		t.Fatalf("verify: %+v %v", a, err)
	}
	r, err := verifier.VerifyReceipt([]byte(out["receipt"].(string)), key, entry.DefaultRules())
	if err != nil || r.Code != code {
		t.Fatalf("receipt: %v", err)
	}
	// The answer is written by hand: a name that needs escaping in the
	// receipt's entry must come back as a receipt that verifies.
	status, odd := ts.post(t, ts.token, `{"country":"FR","subdivision":"IDF","name":"Saint-\"Quote\" \\ & <Île> \u00e9","ids":["geonames:2988507"]}`)
	if status != 200 {
		t.Fatalf("%d %v", status, odd)
	}
	r, err = verifier.VerifyReceipt([]byte(odd["receipt"].(string)), key, entry.DefaultRules())
	if err != nil || r.Code != odd["code"] || r.Name != `Saint-"Quote" \ & <Île> é` {
		t.Fatalf("receipt of an escaped name: %+v %v", r, err)
	}
}

func TestAPIErrors(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	ts.post(t, ts.token, reqJSON(1)) // geonames:2 held by DE-BY-0000
	ts.post(t, ts.token, `{"country":"DE","subdivision":"BY","name":"B","ids":["geonames:50"]}`)
	for _, tc := range []struct {
		name, token, body string
		status            int
		want              string
	}{
		{"no token", "", reqJSON(2), 401, "unauthorized"},
		{"bad token", "cl_nope", reqJSON(2), 401, "unauthorized"},
		{"malformed", ts.token, `{"country":`, 400, "invalid request"},
		{"unknown field", ts.token, `{"country":"DE","colour":"red"}`, 400, "unknown field"},
		{"trailing data", ts.token, reqJSON(3) + "{}", 400, "unexpected data"},
		{"duplicate key", ts.token, `{"name":"a","name":"b"}`, 400, "duplicate field"},
		{"invalid country", ts.token, `{"country":"ZZ","subdivision":"BY","name":"x","ids":["geonames:7"]}`, 400, "ISO 3166-1"},
		{"too large", ts.token, `{"name":"` + strings.Repeat("x", entry.MaxRequestSize) + `"}`, 413, "too large"},
		{"conflict", ts.token, `{"country":"DE","subdivision":"BY","name":"x","ids":["geonames:2","geonames:50"]}`, 409, "one request is one city"},
		{"another country's city", ts.token, `{"country":"FR","subdivision":"IDF","name":"x","ids":["geonames:2"]}`, 409, "a city of DE, not FR"},
	} {
		status, out := ts.post(t, tc.token, tc.body)
		if status != tc.status || !strings.Contains(fmt.Sprint(out), tc.want) || out["error"] == nil || out["detail"] == nil {
			t.Errorf("%s: %d %v, want %d mentioning %q", tc.name, status, out, tc.status, tc.want)
		}
	}
	// Refused requests are logged with their status, reason and token
	// name, never the token.
	for _, want := range []string{"status=401", "status=409", "status=413", `reason="invalid request"`, "token=t"} {
		if !strings.Contains(ts.logged.String(), want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if strings.Contains(ts.logged.String(), ts.token) {
		t.Error("the log holds a token")
	}
	// The bearer scheme is case-insensitive.
	for _, scheme := range []string{"bearer", "BEARER", "Bearer  "} {
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/allocate", strings.NewReader(reqJSON(300)))
		req.Header.Set("Authorization", scheme+" "+ts.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("scheme %q: %d", scheme, resp.StatusCode)
		}
	}
	// A resubmission that differs from its entry answers the existing code
	// with the differences.
	if status, out := ts.post(t, ts.token, `{"country":"DE","subdivision":"BY","name":"Bee","ids":["geonames:50","geonames:51"]}`); status != 200 ||
		out["existing"] != true || fmt.Sprint(out["differs"]) != "map[ids:[geonames:51] name:Bee]" {
		t.Errorf("differing resubmission: %d %v", status, out)
	}
	// The rate-limited token: 2/s, so the third request in a row is refused.
	codes := []int{}
	for i := 0; i < 3; i++ {
		s, _ := ts.post(t, ts.slow, reqJSON(100+i))
		codes = append(codes, s)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Errorf("rate limit: %v", codes)
	}
	resp, _ := http.Get(ts.url + "/api/v1/allocate")
	if resp.StatusCode != 405 {
		t.Errorf("GET allocate: %d", resp.StatusCode)
	}
}

func TestReadPath(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ { // a full tile and bundle
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts.post(t, ts.token, reqJSON(i))
		}()
	}
	wg.Wait()
	for _, tc := range []struct {
		method, path string
		status       int
		cache, ctype string
	}{
		{"GET", "/checkpoint", 200, "no-cache", "text/plain; charset=utf-8"},
		{"GET", "/tile/0/000", 200, "public, max-age=31536000, immutable", "application/octet-stream"},
		{"GET", "/tile/entries/000", 200, "public, max-age=31536000, immutable", "application/octet-stream"},
		{"HEAD", "/tile/0/000", 200, "public, max-age=31536000, immutable", "application/octet-stream"},
		{"GET", "/tile/", 404, "", ""},
		{"GET", "/tile/0", 404, "", ""},
		{"GET", "/../state/key", 404, "", ""},
		{"GET", "/%2e%2e/state/key", 404, "", ""},
		{"GET", "/tile/0/.tmp-1", 404, "", ""},
		{"DELETE", "/checkpoint", 405, "", ""},
	} {
		req, _ := http.NewRequest(tc.method, ts.url+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Cache-Control") != tc.cache || resp.Header.Get("Content-Type") != tc.ctype && tc.status == 200 {
			t.Errorf("%s %s: %d %q %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("Content-Type"))
		}
		if tc.status == 200 && resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s %s: no CORS header", tc.method, tc.path)
		}
		if tc.method == "HEAD" && len(body) != 0 {
			t.Errorf("HEAD returned a body")
		}
		if strings.Contains(string(body), "PRIVATE+KEY") {
			t.Fatalf("%s leaked the signing key", tc.path)
		}
	}
	// Conditional GET.
	resp, _ := http.Get(ts.url + "/tile/0/000")
	etag := resp.Header.Get("ETag")
	resp.Body.Close()
	req, _ := http.NewRequest("GET", ts.url+"/tile/0/000", nil)
	req.Header.Set("If-None-Match", etag)
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	// Operations endpoints.
	resp, _ = http.Get(ts.url + "/healthz")
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	resp, _ = http.Get(ts.url + "/metrics")
	m, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(m, []byte(`citylog_allocations_total{result="new"} 300`)) || !bytes.Contains(m, []byte("citylog_integration_seconds_count")) {
		t.Errorf("metrics:\n%s", m)
	}
}

// TestConcurrentClientsAndShutdown runs many clients, closes the server in
// the middle, and checks invariant 2: every code answered with 200 is in
// the log after a restart, under the same code; the rest got 503 or no
// answer at all.
func TestConcurrentClientsAndShutdown(t *testing.T) {
	ts := start(t, "")
	var mu sync.Mutex
	acked := map[int]string{}
	var wg sync.WaitGroup
	for c := 0; c < 64; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c * 1000; i < c*1000+1000; i++ {
				req, _ := http.NewRequest("POST", ts.url+"/api/v1/allocate", strings.NewReader(reqJSON(i)))
				req.Header.Set("Authorization", "Bearer "+ts.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // server gone
				}
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode == 503 {
					return
				}
				if resp.StatusCode != 200 {
					t.Errorf("status %d: %v", resp.StatusCode, out)
					return
				}
				mu.Lock()
				acked[i] = out["code"].(string)
				mu.Unlock()
			}
		}()
	}
	// Shut down in the middle of the load: once 100 are acknowledged (a
	// fixed sleep would be too short under -race on a busy machine).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 || time.Now().After(deadline) {
			break
		}
	}
	ts.api.Close() // as on SIGTERM: queued requests are published and answered
	wg.Wait()
	ts.srv.Shutdown()
	ts.w.Close()
	if len(acked) < 100 {
		t.Fatalf("only %d acknowledged", len(acked))
	}

	w, err := log.Open(context.Background(), log.Config{Dir: ts.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var reqs []entry.Request
	var want []string
	for i, code := range acked {
		r, err := entry.ParseRequest([]byte(reqJSON(i)))
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, r)
		want = append(want, code)
	}
	res, err := w.Allocate(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range res {
		if !r.Existing || r.Code.String() != want[k] {
			t.Fatalf("acknowledged as %s, after restart %+v", want[k], r)
		}
	}
}

// TestConcurrentReceipts: answers to many clients at once, new entries and
// resubmissions, carry receipts that verify, each for its own code and
// entry, whichever handler encoded them from the batch's receipts.
func TestConcurrentReceipts(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	key, err := verifier.ParseKey(filepath.Join(ts.dir, log.StateDir, "vkey"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes := map[int]string{}
			for k := range 12 {
				i, body := c*100+k, reqJSON(c*100+k)
				if k%3 == 2 { // a resubmission, under another name
					i = c*100 + k - 2
					body = strings.Replace(reqJSON(i), "Town", "Village", 1)
				}
				status, out := ts.post(t, ts.token, body)
				if status != 200 {
					t.Errorf("status %d: %v", status, out)
					return
				}
				r, err := verifier.VerifyReceipt([]byte(out["receipt"].(string)), key, entry.DefaultRules())
				if err != nil || r.Code != out["code"] || r.Name != fmt.Sprintf("Town %d", i) {
					t.Errorf("request %d: receipt of %+v: %v", i, r, err)
					return
				}
				if want, ok := codes[i]; ok && (want != out["code"] || out["existing"] != true) {
					t.Errorf("resubmission of %d: %v, first answered %s", i, out, want)
				}
				codes[i] = out["code"].(string)
			}
		}()
	}
	wg.Wait()
}

// TestRefusalLogIsRateLimited: a flood of refused requests logs a bounded
// number of lines, and the next line counts what was dropped.
func TestRefusalLogIsRateLimited(t *testing.T) {
	var buf lockedBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	var l refusalLog
	r := httptest.NewRequest("POST", "/api/v1/allocate", nil)
	for range 1000 {
		l.log(logger, r.RemoteAddr, 401, "unauthorized", "no token", "")
	}
	if n := strings.Count(buf.String(), "request refused"); n > int(refusalBurst)+2 || n < int(refusalBurst) {
		t.Fatalf("%d lines for 1000 refusals, want about %v", n, refusalBurst)
	}
	time.Sleep(200 * time.Millisecond)
	l.log(logger, r.RemoteAddr, 401, "unauthorized", "no token", "")
	if !strings.Contains(buf.String(), "suppressed_before=") {
		t.Errorf("the line after the flood does not count the dropped ones:\n%s", buf.String())
	}
}

// TestTokensFileDamagedWhileServing: garbage over the tokens file is
// reported at once by /healthz (degraded, 200) and the log, and the last
// good tokens keep working.
func TestTokensFileDamagedWhileServing(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	os.WriteFile(filepath.Join(ts.dir, log.StateDir, "tokens.json"), []byte("garbage"), 0o600)
	// Reported within a couple of seconds with no request at all.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ts.logged.String(), "tokens file unreadable") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(ts.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h["status"] != "degraded" || !strings.Contains(fmt.Sprint(h["detail"]), "tokens file unreadable") {
		t.Errorf("healthz: %d %v", resp.StatusCode, h)
	}
	if status, out := ts.post(t, ts.token, reqJSON(1)); status != 200 {
		t.Errorf("the last good token: %d %v", status, out)
	}
	if !strings.Contains(ts.logged.String(), "tokens file unreadable") {
		t.Error("the damaged tokens file was not logged")
	}
}

// TestReadPathStaysInPublic: nothing outside the public tree is served,
// whatever links lie in it: a link to the state directory, or to the
// signing key, is 404, as are dot-files and directories.
func TestReadPathStaysInPublic(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	pub := filepath.Join(ts.dir, log.PublicDir)
	state := filepath.Join(ts.dir, log.StateDir)
	os.Symlink(state, filepath.Join(pub, "state"))
	os.Symlink(filepath.Join(state, "key"), filepath.Join(pub, "key"))
	os.Symlink("../state/key", filepath.Join(pub, "relkey"))
	os.Symlink("checkpoint", filepath.Join(pub, "inside")) // even a link inside the tree
	os.WriteFile(filepath.Join(pub, ".hidden"), []byte("x"), 0o644)
	for _, p := range []string{"/state/key", "/state/tokens.json", "/key", "/relkey", "/inside", "/.hidden", "/tile", "/state", "/../state/key", "/%2e%2e/state/key"} {
		resp, err := http.Get(ts.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.Contains(string(b), "PRIVATE+KEY") {
			t.Errorf("GET %s: %d %q, want 404", p, resp.StatusCode, b)
		}
	}
	if resp, _ := http.Get(ts.url + "/checkpoint"); resp.StatusCode != 200 {
		t.Errorf("the checkpoint itself: %d", resp.StatusCode)
	}
}

// TestCORS: a cross-origin reader's preflight on the public tree is
// answered; the write API keeps no CORS.
func TestCORS(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	req, _ := http.NewRequest("OPTIONS", ts.url+"/tile/0/000", nil)
	req.Header.Set("Origin", "https://site.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Access-Control-Request-Headers", "if-none-match")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != 204 || h.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "If-None-Match") {
		t.Errorf("preflight: %d %v", resp.StatusCode, h)
	}
	req, _ = http.NewRequest("OPTIONS", ts.url+"/api/v1/allocate", nil)
	req.Header.Set("Origin", "https://site.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 204 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the write API answered a preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = http.Get(ts.url + "/checkpoint")
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("GET: %v", resp.Header)
	}
}

// TestHealthzWritesNothing: /healthz creates no file and shows no path of
// the file system, also when it reports a problem.
func TestHealthzWritesNothing(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	count := func() int {
		n := 0
		filepath.WalkDir(ts.dir, func(string, fs.DirEntry, error) error { n++; return nil })
		return n
	}
	before := count()
	for range 50 {
		resp, _ := http.Get(ts.url + "/healthz")
		resp.Body.Close()
	}
	if after := count(); after != before {
		t.Errorf("50 health checks left %d files, had %d", after, before)
	}
	os.WriteFile(filepath.Join(ts.dir, log.StateDir, "tokens.json"), []byte("garbage"), 0o600)
	time.Sleep(1100 * time.Millisecond)
	resp, _ := http.Get(ts.url + "/healthz")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(b), ts.dir) || !strings.Contains(string(b), "degraded") {
		t.Errorf("healthz shows a path: %s", b)
	}
}

// TestFrontsAnswerAlike: the fasthttp front (citylog serve's) and the
// net/http handler answer an allocation alike, refusals and all: status,
// the headers a client acts on, and the body.
func TestFrontsAnswerAlike(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	std := httptest.NewServer(ts.api)
	defer std.Close()
	ts.post(t, ts.token, reqJSON(1)) // allocated once: resubmitting it answers the same, twice
	for _, tc := range []struct {
		name, method, token, body string
		chunked                   bool
	}{
		{"resubmission", "POST", ts.token, reqJSON(1), false},
		{"resubmission, chunked", "POST", ts.token, reqJSON(1), true},
		{"too large, chunked", "POST", ts.token, `{"name":"` + strings.Repeat("x", 3*entry.MaxRequestSize) + `"}`, true},
		{"no token", "POST", "", reqJSON(2), false},
		{"malformed", "POST", ts.token, `{"country":`, false},
		{"too large", "POST", ts.token, `{"name":"` + strings.Repeat("x", entry.MaxRequestSize) + `"}`, false},
		{"far too large", "POST", ts.token, `{"name":"` + strings.Repeat("x", 3*entry.MaxRequestSize) + `"}`, false},
		{"past what the front reads", "POST", ts.token, `{"name":"` + strings.Repeat("x", 5*entry.MaxRequestSize) + `"}`, false},
		{"conflict", "POST", ts.token, `{"country":"FR","subdivision":"IDF","name":"x","ids":["geonames:2"]}`, false},
		{"GET", "GET", ts.token, "", false},
	} {
		type answer struct {
			Status                         int
			Type, Auth, Retry, Allow, Body string
		}
		var got [2]answer
		for i, base := range []string{ts.url, std.URL} {
			req, _ := http.NewRequest(tc.method, base+"/api/v1/allocate", strings.NewReader(tc.body))
			if tc.chunked {
				req.Body, req.ContentLength = io.NopCloser(strings.NewReader(tc.body)), -1
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			h := resp.Header
			got[i] = answer{resp.StatusCode, h.Get("Content-Type"), h.Get("WWW-Authenticate"), h.Get("Retry-After"), h.Get("Allow"), string(b)}
		}
		if got[0] != got[1] {
			t.Errorf("%s: citylog serve's front answers\n%+v\nnet/http\n%+v", tc.name, got[0], got[1])
		}
	}
}

// TestFrontRefusesLongHeads: a request head past what the front reads is
// refused with the API's JSON error, 431, and one within it is answered.
func TestFrontRefusesLongHeads(t *testing.T) {
	ts := start(t, "")
	defer ts.stop()
	for _, tc := range []struct {
		pad    int
		status int
	}{
		{headBytes / 2, http.StatusOK},
		{2 * headBytes, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest("POST", ts.url+"/api/v1/allocate", strings.NewReader(reqJSON(7)))
		req.Header.Set("Authorization", "Bearer "+ts.token)
		req.Header.Set("X-Padding", strings.Repeat("p", tc.pad))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("a head of %d bytes: %v", tc.pad, err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != tc.status || tc.status != http.StatusOK && !strings.Contains(fmt.Sprint(out["detail"]), "at most") {
			t.Errorf("a head of %d bytes: %d %v, want %d", tc.pad, resp.StatusCode, out, tc.status)
		}
	}
}
