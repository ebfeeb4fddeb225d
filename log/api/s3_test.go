package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/internal/testenv"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/tokens"
)

// TestServeOnS3UnderFaults runs the server on a real bucket reached
// through a fault proxy, under load from 16 clients, for each fault kind,
// with an outage longer than the retries in the middle: every request is
// answered 200 or 503 (never hangs, never another status), the server
// allocates again after the outage without a restart, and every code
// answered 200 is in the log, with that code, once the faults stop.
func TestServeOnS3UnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("serves under load through a faulty proxy for every fault kind")
	}
	srv := testenv.StartS3(t)
	for _, fault := range testenv.Faults {
		t.Run(fault.String(), func(t *testing.T) {
			t.Parallel()
			serveUnderFaults(t, srv, fault)
		})
	}
}

func serveUnderFaults(t *testing.T, srv *testenv.S3, fault testenv.Fault) {
	ctx := context.Background()
	bucket := fmt.Sprintf("serve%d", fault)
	newStore := func(endpoint string) *s3store.Store {
		s, err := s3store.New(s3store.Config{Bucket: bucket, Prefix: "log", Endpoint: endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
			PathStyle: true, AttemptTimeout: 250 * time.Millisecond, Attempts: 4})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	direct := newStore(srv.Endpoint)
	if err := direct.CreateBucket(ctx); err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartFaultProxy(t, srv.Endpoint)
	proxy.Delay = 100 * time.Millisecond
	dir := filepath.Join(t.TempDir(), "reg")
	skey, _ := log.GenerateKey("serve-faults.example/log")
	if _, _, err := log.InitStore(ctx, dir, skey, newStore(proxy.URL)); err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, log.StateDir, "tokens.json")
	tok, _ := tokens.Add(tokPath, "t", 0)
	checker, _ := tokens.NewChecker(tokPath, nil)
	w, err := log.Open(ctx, log.Config{Dir: dir, Store: newStore(proxy.URL), Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	s := New(w, Config{PublicDir: filepath.Join(dir, "public"), StateDir: filepath.Join(dir, log.StateDir), Tokens: checker,
		Interval: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go s.Run()
	hs := httptest.NewServer(s)
	defer hs.Close()
	// One request in four faulted, and an outage longer than the retries:
	// its batches fail with 503 and the writer must heal by itself.
	var n atomic.Int64
	proxy.SetPlan(func(r *http.Request) testenv.Fault {
		k := n.Add(1)
		if k%4 == 0 || k >= 100 && k < 130 {
			return fault
		}
		return testenv.Pass
	})

	var mu sync.Mutex
	acked := map[int]string{}
	statuses := map[int]int{}
	var next atomic.Int64
	var lastOK, outageEnd atomic.Int64 // when the last 200 came, when the outage ended
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				req, _ := http.NewRequest("POST", hs.URL+"/api/v1/allocate", strings.NewReader(reqJSON(i)))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				var out struct{ Code string }
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				if resp.StatusCode == 200 {
					acked[i] = out.Code
					lastOK.Store(time.Now().UnixNano())
				}
				mu.Unlock()
				if n.Load() >= 130 && outageEnd.Load() == 0 {
					outageEnd.Store(time.Now().UnixNano())
				}
				if resp.StatusCode == 503 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	proxy.SetPlan(nil)
	s.Close()
	w.Close()
	for st := range statuses {
		if st != 200 && st != 503 {
			t.Errorf("status %d under faults (%v)", st, statuses)
		}
	}
	if len(acked) < 20 {
		t.Fatalf("only %d allocations acknowledged under %s (%v)", len(acked), fault, statuses)
	}
	if lastOK.Load() < outageEnd.Load() && fault != testenv.Delay {
		t.Errorf("no allocation after the outage: the server did not heal (%v)", statuses)
	}
	// With the faults gone, a restarted writer answers every acknowledged
	// request with its code.
	w2, err := log.Open(ctx, log.Config{Dir: dir, Store: direct})
	if err != nil {
		t.Fatalf("reopening after the faults: %v", err)
	}
	defer w2.Close()
	var reqs []entry.Request
	var want []string
	for i, code := range acked {
		reqs = append(reqs, entry.Request{Country: "DE", Subdivision: "BY", Name: fmt.Sprint("Town ", i), IDs: []string{fmt.Sprint("geonames:", i+1)}})
		want = append(want, code)
	}
	res, err := w2.Allocate(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	for k, r := range res {
		if !r.Existing || r.Code.String() != want[k] {
			t.Fatalf("acknowledged %s is now %+v", want[k], r)
		}
	}
	t.Logf("%s: %d acknowledged, statuses %v, %d faults injected", fault, len(acked), statuses, proxy.Injected())
}
