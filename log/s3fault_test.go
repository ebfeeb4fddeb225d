package log

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/internal/testenv"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// proxiedStore returns a store on bucket that reaches srv through the
// fault proxy, with short attempts so that dropped requests cost little.
func proxiedStore(t *testing.T, srv *testenv.S3, proxy *testenv.FaultProxy, bucket string) *s3store.Store {
	t.Helper()
	s, err := s3store.New(s3store.Config{Bucket: bucket, Prefix: "log", Endpoint: proxy.URL, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		PathStyle: true, AttemptTimeout: 250 * time.Millisecond, Attempts: 6})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// importLines is an import file of n generated requests from first.
func importLines(first, n int) []byte {
	var b bytes.Buffer
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"country":"DE","subdivision":"BY","name":"Town %d","ids":["geonames:%d"]}`+"\n", i, i+1)
	}
	return b.Bytes()
}

// TestS3ImportSurvivesFaults imports into a real bucket through a proxy
// that injects one fault kind into every fifth request, and, for each
// kind, an outage longer than the retries. An import that fails is run
// again on a reopened writer, as an operator would. At the end every line
// acknowledged by any run holds the same code, every checkpoint seen is
// consistent with the last, and the log verifies from the bucket.
func TestS3ImportSurvivesFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("imports through a faulty proxy for every fault kind")
	}
	srv := testenv.StartS3(t)
	for _, fault := range testenv.Faults {
		t.Run(fault.String(), func(t *testing.T) {
			t.Parallel() // each kind its own bucket and proxy; most of the time is spent waiting
			bucket := fmt.Sprintf("faults%d", fault)
			bucketStore(t, srv, bucket) // makes the bucket
			proxy := testenv.StartFaultProxy(t, srv.Endpoint)
			proxy.Delay = 100 * time.Millisecond
			dir := filepath.Join(t.TempDir(), "state")
			if _, _, err := InitStore(context.Background(), dir, testSigningKey(t), proxiedStore(t, srv, proxy, bucket)); err != nil {
				t.Fatal(err)
			}
			const lines = 1500
			input := importLines(0, lines)
			// Every fifth request faulted, then, half-way, an outage of
			// 30 requests in a row: longer than the retries.
			var requests atomic.Int64
			proxy.SetPlan(func(r *http.Request) testenv.Fault {
				n := requests.Add(1)
				switch {
				case n >= 40 && n < 70:
					return fault
				case n%5 == 0:
					return fault
				}
				return testenv.Pass
			})
			acked := map[int]string{}
			var checkpoints [][]byte
			runs := 0
			for ; runs < 8; runs++ {
				w, err := Open(context.Background(), Config{Dir: dir, Store: proxiedStore(t, srv, proxy, bucket), Now: tickingClock(), Workers: 8,
					TakeoverWait: time.Millisecond})
				if err != nil {
					t.Logf("run %d: open: %v", runs, err)
					continue // the store is down: try again, as an operator would
				}
				_, err = w.Import(context.Background(), bytes.NewReader(input), ImportOptions{BatchSize: 200}, func(lr LineResult) error {
					if lr.Err != nil {
						return fmt.Errorf("line %d refused: %w", lr.Line, lr.Err)
					}
					if prev, ok := acked[lr.Line]; ok && prev != lr.Code.String() {
						t.Fatalf("line %d: acknowledged %s, then %s", lr.Line, prev, lr.Code)
					}
					acked[lr.Line] = lr.Code.String()
					return nil
				})
				if cp, rerr := w.store.ReadFile(context.Background(), CheckpointPath); rerr == nil {
					checkpoints = append(checkpoints, cp)
				}
				if err == nil {
					err = w.Finish(context.Background())
				} else {
					w.Close()
				}
				if err == nil {
					break
				}
				t.Logf("run %d: %v", runs, err)
				if Permanent(err) {
					t.Fatalf("run %d: a transient fault became permanent: %v", runs, err)
				}
			}
			if len(acked) != lines {
				t.Fatalf("after %d runs, %d of %d lines acknowledged", runs+1, len(acked), lines)
			}
			t.Logf("%s: %d faults injected, %d runs", fault, proxy.Injected(), runs+1)
			proxy.SetPlan(nil)
			checkLogInBucket(t, srv, bucket, dir, acked, checkpoints)
		})
	}
}

// checkLogInBucket verifies, from the bucket and without faults, that
// each acknowledged line's code is there (a sample), that each checkpoint
// seen is consistent with the final one, and that a new writer answers
// every line with its acknowledged code.
func checkLogInBucket(t *testing.T, srv *testenv.S3, bucket, dir string, acked map[int]string, checkpoints [][]byte) {
	t.Helper()
	ctx := context.Background()
	direct := bucketStore(t, srv, bucket)
	key, err := verifier.ParseKey(filepath.Join(dir, StateDir, vkeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l := verifier.New(source.Source(direct), key)
	final, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, signed := range checkpoints {
		old, err := verifier.OpenCheckpoint(signed, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.ProveConsistency(ctx, old, final); err != nil {
			t.Errorf("checkpoint of size %d is not consistent with the final one: %v", old.Size, err)
		}
	}
	for line, code := range acked {
		if line%97 == 0 {
			if _, err := l.VerifyCode(ctx, code); err != nil {
				t.Errorf("line %d's %s: %v", line, code, err)
			}
		}
	}
	w, err := Open(ctx, Config{Dir: dir, Store: direct, Now: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	n := 0
	_, err = w.Import(ctx, bytes.NewReader(importLines(0, len(acked))), ImportOptions{}, func(lr LineResult) error {
		n++
		if lr.Err != nil || !lr.Existing || lr.Code.String() != acked[lr.Line] {
			return fmt.Errorf("line %d: %+v, want %s existing", lr.Line, lr.Result, acked[lr.Line])
		}
		return nil
	})
	if err != nil || n != len(acked) {
		t.Fatalf("the final check: %d lines, %v", n, err)
	}
}

func testSigningKey(t *testing.T) string {
	t.Helper()
	skey, err := GenerateKey("faults.example/log")
	if err != nil {
		t.Fatal(err)
	}
	return skey
}
