package log

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
)

// faultStore makes the n-th mutating call fail, optionally after letting
// it take effect: the two sides of a crash during that call.
type faultStore struct {
	Storage
	mu     sync.Mutex
	calls  int
	failAt int
	apply  bool
}

var errInjected = errors.New("injected fault")

func (f *faultStore) fault(do func() error) error {
	f.mu.Lock()
	f.calls++
	hit := f.calls == f.failAt
	f.mu.Unlock()
	if !hit {
		return do()
	}
	if f.apply {
		do()
	}
	return errInjected
}

func (f *faultStore) CreateFile(ctx context.Context, p string, b []byte) error {
	return f.fault(func() error { return f.Storage.CreateFile(ctx, p, b) })
}

func (f *faultStore) ReplaceFile(ctx context.Context, p string, b []byte) error {
	return f.fault(func() error { return f.Storage.ReplaceFile(ctx, p, b) })
}

func (f *faultStore) SwapFile(ctx context.Context, p string, b []byte) error {
	return f.fault(func() error { return f.Storage.SwapFile(ctx, p, b) })
}

func (f *faultStore) Sync(ctx context.Context) error {
	return f.fault(func() error { return f.Storage.Sync(ctx) })
}

// tickingClock advances a second on every call, so an entry sequenced
// again after a crash would get different bytes.
func tickingClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

// fullFiles returns every full tile and bundle in the public tree.
func fullFiles(t *testing.T, pub string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(pub, "tile"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(pub, path)
		if tile, err := tiles.ParsePath(filepath.ToSlash(rel)); err == nil && tile.Full() {
			b, _ := os.ReadFile(path)
			out[rel] = string(b)
		}
		return nil
	})
	return out
}

func readCP(t *testing.T, dir string) tiles.Checkpoint {
	t.Helper()
	s := mustStore(t, filepath.Join(dir, PublicDir))
	_, v, err := readKeys(filepath.Join(dir, StateDir))
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := readCheckpoint(context.Background(), s, v)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// checkEdge checks that the edge file carries the published checkpoint,
// byte for byte, and the right edge of its tree.
func checkEdge(t *testing.T, dir string) {
	t.Helper()
	pub := filepath.Join(dir, PublicDir)
	signed, err := os.ReadFile(filepath.Join(pub, CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(pub, tiles.EdgePath))
	if err != nil {
		t.Fatal(err)
	}
	e, err := tiles.ParseEdge(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Checkpoint, signed) {
		t.Fatalf("%s carries another checkpoint than %s", tiles.EdgePath, CheckpointPath)
	}
	if err := e.Check(readCP(t, dir)); err != nil {
		t.Fatalf("%s: %v", tiles.EdgePath, err)
	}
}

func TestCrashAtEveryStorageCall(t *testing.T) {
	batches := [][]entry.Request{genRequests(0, 300), genRequests(300, 300), genRequests(600, 5)}
	for failAt := 1; ; failAt++ {
		failed := false
		for _, apply := range []bool{false, true} {
			failed = crashRun(t, batches, failAt, apply) || failed
		}
		if !failed {
			if failAt < 10 {
				t.Fatalf("only %d storage calls", failAt)
			}
			return // the fault point lies beyond the last call
		}
	}
}

// crashRun allocates batches through a store that fails at call failAt,
// then reopens the log as a restarted writer would, and checks the
// invariants. It reports whether the fault fired.
func crashRun(t *testing.T, batches [][]entry.Request, failAt int, apply bool) bool {
	dir := newLog(t)
	pub := filepath.Join(dir, PublicDir)
	clock := tickingClock()
	fs := &faultStore{Storage: mustStore(t, pub), failAt: failAt, apply: apply}
	w, err := Open(context.Background(), Config{Dir: dir, Store: fs, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	var acked []Result
	var seen []tiles.Checkpoint
	fired := false
	for _, b := range batches {
		res, err := w.Allocate(context.Background(), b)
		if err != nil {
			if !errors.Is(err, errInjected) {
				t.Fatalf("failAt %d: %v", failAt, err)
			}
			fired = true
			break
		}
		acked = append(acked, res...)
		seen = append(seen, readCP(t, dir))
		checkEdge(t, dir)
	}
	w.Close()
	before := fullFiles(t, pub)

	// Restart with healthy storage and new requests for the same indices.
	w, err = Open(context.Background(), Config{Dir: dir, Now: clock})
	if err != nil {
		t.Fatalf("failAt %d apply %v: reopen: %v", failAt, apply, err)
	}
	defer w.Close()
	checkEdge(t, dir)
	mustAllocate(t, w, genRequests(10000, 300))
	for path, data := range before {
		if b, err := os.ReadFile(filepath.Join(pub, path)); err != nil || string(b) != data {
			t.Errorf("failAt %d apply %v: immutable %s changed or vanished", failAt, apply, path)
		}
	}
	var again []entry.Request
	for _, b := range batches {
		again = append(again, b...)
	}
	res := mustAllocate(t, w, again[:len(acked)])
	for i, r := range res {
		if !r.Existing || r.Code != acked[i].Code {
			t.Fatalf("failAt %d apply %v: acknowledged %s lost (now %+v)", failAt, apply, acked[i].Code, r)
		}
	}
	final := readCP(t, dir)
	for _, cp := range append(seen, readCP(t, dir)) {
		p, err := tiles.ConsistencyProof(context.Background(), storageReader{mustStore(t, pub)}, cp.Size, final.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tiles.VerifyConsistency(cp.Size, final.Size, hashSlices(p), cp.Root[:], final.Root[:]); err != nil {
			t.Errorf("failAt %d apply %v: %v", failAt, apply, err)
		}
	}
	return fired
}

func hashSlices(hs []tiles.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}
