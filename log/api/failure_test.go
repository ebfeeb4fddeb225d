package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/dirstore"
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
