package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
)

// stepFaults fails the calls of one kind of storage step (CreateFile:
// apply; Sync: apply's flush; SwapFile of the checkpoint: publish)
// with err while armed, optionally after letting the call take effect.
type stepFaults struct {
	Storage
	mu    sync.Mutex
	step  string
	err   error
	apply bool
	armed bool
	hits  int
}

func (s *stepFaults) hit(step string, do func() error) error {
	s.mu.Lock()
	fire := s.armed && s.step == step
	if fire {
		s.hits++
	}
	s.mu.Unlock()
	if !fire {
		return do()
	}
	if s.apply {
		do()
	}
	return s.err
}

func (s *stepFaults) arm(on bool) { s.mu.Lock(); s.armed = on; s.mu.Unlock() }

// Shared passes on whether the store under it is shared (object storage).
func (s *stepFaults) Shared() bool { return isShared(s.Storage) }

func (s *stepFaults) CreateFile(ctx context.Context, p string, b []byte) error {
	return s.hit("apply", func() error { return s.Storage.CreateFile(ctx, p, b) })
}

func (s *stepFaults) Sync(ctx context.Context) error {
	return s.hit("sync", func() error { return s.Storage.Sync(ctx) })
}

func (s *stepFaults) SwapFile(ctx context.Context, p string, b []byte) error {
	step := "other"
	if p == CheckpointPath {
		step = "publish"
	}
	return s.hit(step, func() error { return s.Storage.SwapFile(ctx, p, b) })
}

// The transient conditions a writer meets, as the operating system or a
// storage client reports them.
var transientKinds = map[string]error{
	"descriptor shortage": &fs.PathError{Op: "open", Path: "tile/0/000", Err: syscall.EMFILE},
	"full disk":           &fs.PathError{Op: "write", Path: "tile/0/000", Err: syscall.ENOSPC},
	"I/O error":           &fs.PathError{Op: "write", Path: "tile/0/000", Err: syscall.EIO},
	"timeout":             fmt.Errorf("PUT tile/0/000: %w", context.DeadlineExceeded),
}

// TestRecoverFromTransientFaults: for each transient kind at each step of
// a batch, written or not: the batch fails, the writer refuses work while
// the condition lasts (a Recover then fails too), and once it clears
// Recover brings the writer back by itself. Every acknowledged code is
// then in the log with the same code, the requests of the failed batch
// are answered as new or existing (never with another city's code), no
// immutable file changed, and the log is consistent with every checkpoint
// seen before.
func TestRecoverFromTransientFaults(t *testing.T) {
	for kind, ferr := range transientKinds {
		for _, step := range []string{"apply", "sync", "publish"} {
			for _, apply := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/written=%v", kind, step, apply), func(t *testing.T) {
					recoverRun(t, &stepFaults{step: step, err: ferr, apply: apply})
				})
			}
		}
	}
}

func recoverRun(t *testing.T, st *stepFaults) {
	ctx := context.Background()
	dir := newLog(t)
	pub := filepath.Join(dir, PublicDir)
	st.Storage = mustStore(t, pub)
	w, err := Open(ctx, Config{Dir: dir, Store: st, Now: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	acked := mustAllocate(t, w, genRequests(0, 300))
	before := readCP(t, dir)
	immutable := fullFiles(t, pub)

	st.arm(true)
	failed := genRequests(300, 300)
	if _, err := w.Allocate(ctx, failed); !errors.Is(err, st.err) {
		t.Fatalf("the faulty batch: %v, want the injected error", err)
	}
	if err, permanent := w.Failure(); err == nil || permanent {
		t.Fatalf("Failure() = %v, %v; want a transient failure", err, permanent)
	}
	if _, err := w.Allocate(ctx, genRequests(900, 10)); err == nil {
		t.Fatal("a failed writer took a batch")
	}
	// While the condition lasts, recovery fails and changes nothing
	// (unless the batch's files were all written: then the checkpoint
	// alone is missing, and recovery may get past a failing step).
	if err := w.Recover(ctx); err == nil && !st.apply {
		t.Fatal("Recover succeeded while the condition lasted")
	}
	st.arm(false)
	if err := w.Recover(ctx); err != nil {
		t.Fatalf("Recover after the condition cleared: %v", err)
	}
	if err, _ := w.Failure(); err != nil {
		t.Fatalf("still failed after Recover: %v", err)
	}
	checkEdge(t, dir)

	// The failed batch's requests: each answers with its own code, new or
	// existing, as a resubmission would.
	again := mustAllocate(t, w, failed)
	for i, r := range again {
		want := failed[i]
		if r.Err != nil || r.Code.Country != want.Country || r.Code.Subdivision != want.Subdivision {
			t.Fatalf("resubmitted %v: %+v", want.IDs, r)
		}
	}
	acked = append(acked, again...)
	acked = append(acked, mustAllocate(t, w, genRequests(600, 300))...)

	// Every acknowledged code stays, after a restart too.
	w.Close()
	w2, err := Open(ctx, Config{Dir: dir, Now: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	all := append(append(genRequests(0, 300), failed...), genRequests(600, 300)...)
	res := mustAllocate(t, w2, all)
	for i, r := range res {
		if !r.Existing || r.Code != acked[i].Code {
			t.Fatalf("acknowledged %s is now %+v", acked[i].Code, r)
		}
	}
	for path, data := range immutable {
		if b, err := os.ReadFile(filepath.Join(pub, path)); err != nil || string(b) != data {
			t.Errorf("immutable %s changed or vanished", path)
		}
	}
	final := readCP(t, dir)
	p, err := tiles.ConsistencyProof(ctx, storageReader{mustStore(t, pub)}, before.Size, final.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := tiles.VerifyConsistency(before.Size, final.Size, hashSlices(p), before.Root[:], final.Root[:]); err != nil {
		t.Errorf("the log after recovery is not consistent with the one before: %v", err)
	}
}

// TestRecoverFromStageFault: the stage step (the private state) out of
// file descriptors, for real: the process's limit is lowered between
// Prepare and Publish, so the staged file cannot be opened.
func TestRecoverFromStageFault(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	acked := mustAllocate(t, w, genRequests(0, 100))
	b, err := w.Prepare(ctx, genRequests(100, 100))
	if err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("no file descriptor limit to lower: %v", err)
	}
	low := lim
	low.Cur = uint64(lowestFreeFD(t)) // no descriptor to spare
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower the descriptor limit: %v", err)
	}
	_, err = w.Publish(ctx, b)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("publishing out of descriptors: %v, want EMFILE", err)
	}
	if err, permanent := w.Failure(); err == nil || permanent {
		t.Fatalf("Failure() = %v, %v", err, permanent)
	}
	if err := w.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	res := mustAllocate(t, w, append(genRequests(0, 100), genRequests(100, 100)...))
	for i, r := range res[:100] {
		if !r.Existing || r.Code != acked[i].Code {
			t.Fatalf("acknowledged %s is now %+v", acked[i].Code, r)
		}
	}
	if got := w.Size(); got != 200 {
		t.Errorf("log size %d after the batch was allocated again, want 200", got)
	}
}

// lowestFreeFD is the number the next open would get (the kernel gives
// the lowest free one). The limit caps descriptor numbers, not their
// count, so a limit at this number leaves no descriptor to spare even
// where the parent left holes in the numbering (a shell's inherited
// descriptors above free ones), where a limit at the count did not.
func lowestFreeFD(t *testing.T) int {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Skipf("cannot open %s: %v", os.DevNull, err)
	}
	defer f.Close()
	return int(f.Fd())
}

// TestCorruptionLatches: an immutable file that exists with other bytes
// is evidence, not a passing condition: the writer stops for good, and
// Recover says why instead of resuming.
func TestCorruptionLatches(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	st := &stepFaults{step: "apply", err: fmt.Errorf("tile/0/000: %w", dirstore.ErrImmutable)}
	st.Storage = mustStore(t, filepath.Join(dir, PublicDir))
	w, err := Open(ctx, Config{Dir: dir, Store: st, Now: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	st.arm(true)
	if _, err := w.Allocate(ctx, genRequests(0, 10)); err == nil {
		t.Fatal("the batch succeeded")
	}
	st.arm(false)
	if err, permanent := w.Failure(); err == nil || !permanent {
		t.Fatalf("Failure() = %v, %v; want permanent", err, permanent)
	}
	if err := w.Recover(ctx); err == nil || !Permanent(err) {
		t.Fatalf("Recover = %v, want the permanent failure", err)
	}
	if _, err := w.Allocate(ctx, []entry.Request{genRequest(20)}); err == nil {
		t.Fatal("a writer stopped by corruption took a batch")
	}
}
