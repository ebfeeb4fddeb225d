package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/tokens"
)

// brokenStore fails every write after the first few, as a full or failing
// disk would.
type brokenStore struct {
	log.Storage
	mu sync.Mutex
	n  int
}

func (b *brokenStore) CreateFile(ctx context.Context, p string, d []byte) error {
	b.mu.Lock()
	b.n++
	n := b.n
	b.mu.Unlock()
	if n > 3 {
		return errors.New("disk full")
	}
	return b.Storage.CreateFile(ctx, p, d)
}

// TestWriterFailureAnswersEveryone fails the storage under concurrent load
// with a tiny queue: every request must still get an answer (200 before
// the failure, 503 after), none may hang, and /healthz must say why.
func TestWriterFailureAnswersEveryone(t *testing.T) {
	dir := t.TempDir()
	if _, err := log.Init(dir, "fail.example/log"); err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, log.StateDir, "tokens.json")
	tok, _ := tokens.Add(tokPath, "t", 0)
	checker, _ := tokens.NewChecker(tokPath, nil)
	store, _ := dirstore.New(filepath.Join(dir, log.PublicDir))
	w, err := log.Open(context.Background(), log.Config{Dir: dir, Store: &brokenStore{Storage: store}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := New(w, Config{PublicDir: filepath.Join(dir, log.PublicDir), StateDir: filepath.Join(dir, log.StateDir), Tokens: checker,
		Interval: time.Millisecond, MaxBatch: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go s.Run()
	srv := httptest.NewServer(s)
	defer srv.Close()
	defer s.Close()

	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for c := 0; c < 32; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/allocate", strings.NewReader(reqJSON(c*100+i)))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("requests hang after a writer failure")
	}
	if statuses[503] == 0 || statuses[200]+statuses[503] != 320 {
		t.Fatalf("statuses %v", statuses)
	}
	resp, _ := http.Get(srv.URL + "/healthz")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "disk full") {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
}

// outageStore fails every write while down, as a full disk or a storage
// service in an outage would.
type outageStore struct {
	log.Storage
	down atomic.Bool
}

var errOutage = &fs.PathError{Op: "write", Path: "tile/0/000", Err: syscall.ENOSPC}

func (o *outageStore) CreateFile(ctx context.Context, p string, d []byte) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Storage.CreateFile(ctx, p, d)
}

func (o *outageStore) ReplaceFile(ctx context.Context, p string, d []byte) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Storage.ReplaceFile(ctx, p, d)
}

func (o *outageStore) SwapFile(ctx context.Context, p string, d []byte) error {
	if o.down.Load() {
		return errOutage
	}
	return o.Storage.SwapFile(ctx, p, d)
}

// TestServerHealsAfterOutage: while the storage is down, requests get 503
// with Retry-After and /healthz says degraded and why; once it is back,
// the server allocates again without a restart, and every code it
// answered before and after is in the log.
func TestServerHealsAfterOutage(t *testing.T) {
	dir := t.TempDir()
	if _, err := log.Init(dir, "heal.example/log"); err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, log.StateDir, "tokens.json")
	tok, _ := tokens.Add(tokPath, "t", 0)
	checker, _ := tokens.NewChecker(tokPath, nil)
	store, _ := dirstore.New(filepath.Join(dir, log.PublicDir))
	outage := &outageStore{Storage: store}
	w, err := log.Open(context.Background(), log.Config{Dir: dir, Store: outage})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s := New(w, Config{PublicDir: filepath.Join(dir, log.PublicDir), StateDir: filepath.Join(dir, log.StateDir), Tokens: checker,
		Interval: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go s.Run()
	srv := httptest.NewServer(s)
	defer srv.Close()
	defer s.Close()
	post := func(i int) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/allocate", strings.NewReader(reqJSON(i)))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	health := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	codes := map[int]string{}
	if st, out, _ := post(0); st != 200 {
		t.Fatalf("before the outage: %d %v", st, out)
	} else {
		codes[0] = out["code"].(string)
	}
	outage.down.Store(true)
	st, out, h := post(1)
	if st != 503 || h.Get("Retry-After") == "" {
		t.Fatalf("during the outage: %d %v, Retry-After %q", st, out, h.Get("Retry-After"))
	}
	if st, body := health(); st != 503 || !strings.Contains(body, `"degraded"`) || !strings.Contains(body, "no space left on device") {
		t.Errorf("healthz during the outage: %d %s", st, body)
	}
	if st, _, _ := post(2); st != 503 {
		t.Errorf("a request while recovering: %d", st)
	}
	outage.down.Store(false)
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, out, _ := post(3)
		if st == 200 {
			codes[3] = out["code"].(string)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the outage: %d %v", st, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st, body := health(); st != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("healthz after recovery: %d %s", st, body)
	}
	resp, _ := http.Get(srv.URL + "/metrics")
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), "citylog_writer_recoveries_total 1") || !strings.Contains(string(m), "citylog_writer_degraded 0") {
		t.Errorf("metrics after recovery:\n%s", m)
	}
	// Every answered code stands; the request refused during the outage
	// answers a code of its own when resubmitted.
	for i, code := range codes {
		if st, out, _ := post(i); st != 200 || out["code"] != code || out["existing"] != true {
			t.Errorf("request %d: %d %v, want %s existing", i, st, out, code)
		}
	}
	if st, out, _ := post(1); st != 200 {
		t.Errorf("the request refused during the outage, again: %d %v", st, out)
	}
}

// TestFullBatchWhilePublishing: a batch that fills up while the previous
// one is still being published is prepared at once, not when that
// publication ends (the pool waits for the publication, not for each
// request, and must still notice a full queue).
func TestFullBatchWhilePublishing(t *testing.T) {
	dir := t.TempDir()
	if _, err := log.Init(dir, "full.example/log"); err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, log.StateDir, "tokens.json")
	tokens.Add(tokPath, "t", 0)
	checker, _ := tokens.NewChecker(tokPath, nil)
	w, err := log.Open(context.Background(), log.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	hold, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := New(w, Config{PublicDir: filepath.Join(dir, log.PublicDir), StateDir: filepath.Join(dir, log.StateDir), Tokens: checker,
		MaxBatch: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Published: func() { once.Do(func() { close(hold); <-release }) }}) // the first publication lasts until released
	go s.Run()
	defer s.Close()
	// Released on failure too: Close waits for the publication.
	var released sync.Once
	defer released.Do(func() { close(release) })
	var sent atomic.Int32 // submits that returned
	submit := func(i int) *pending {
		req, err := entry.ParseRequest([]byte(reqJSON(i)))
		if err != nil {
			t.Fatal(err)
		}
		p := &pending{req: req, reply: make(chan reply, 1)}
		go func() {
			if s.submit(p) {
				sent.Add(1)
			}
		}()
		return p
	}
	ps := []*pending{submit(0)}
	<-hold
	for i := 1; i <= 4; i++ {
		ps = append(ps, submit(i))
	}
	// Batches of 2: one prepared and waiting to be published, the next
	// prepared and waiting for room; none left in the queue.
	for deadline := time.Now().Add(10 * time.Second); sent.Load() < 5 || len(s.queue) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 5 requests queued, %d still in the queue while a publication lasts", sent.Load(), len(s.queue))
		}
	}
	released.Do(func() { close(release) })
	seen := map[uint64]bool{}
	for i, p := range ps {
		rep := <-p.reply
		if rep.err != nil || rep.res.Err != nil || seen[rep.res.Index] || rep.res.Index > 4 {
			t.Errorf("request %d: %+v", i, rep)
		}
		seen[rep.res.Index] = true
	}
}
