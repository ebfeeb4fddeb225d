package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/internal/testenv"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
	"golang.org/x/mod/sumdb/note"
)

// bucketStore returns a store on bucket of srv (made if needed).
func bucketStore(t *testing.T, srv *testenv.S3, bucket string) *s3store.Store {
	t.Helper()
	s, err := s3store.New(s3store.Config{Bucket: bucket, Prefix: "log", Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// sharedLog makes a log in a bucket and a second state directory that
// takes it over with the same key, as a second machine would.
func sharedLog(t *testing.T, srv *testenv.S3, bucket string) (skey string, dirs [2]string) {
	t.Helper()
	skey, _, err := note.GenerateKey(nil, "race.example/log")
	if err != nil {
		t.Fatal(err)
	}
	for i := range dirs {
		dirs[i] = filepath.Join(t.TempDir(), "state")
		_, adopted, err := InitStore(context.Background(), dirs[i], skey, bucketStore(t, srv, bucket))
		if err != nil || adopted != (i == 1) {
			t.Fatalf("init %d: adopted %v, %v", i, adopted, err)
		}
	}
	return skey, dirs
}

// verifyBucketLog verifies the bucket's log as a city would, and that
// each of the codes is in it.
func verifyBucketLog(t *testing.T, srv *testenv.S3, bucket, dir string, acked []Result) {
	t.Helper()
	src := bucketStore(t, srv, bucket)
	key, err := verifier.ParseKey(filepath.Join(dir, StateDir, vkeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l := verifier.New(source.Source(src), key)
	for _, r := range acked {
		if _, err := l.VerifyCode(context.Background(), r.Code.String()); err != nil {
			t.Fatalf("acknowledged %s: %v", r.Code, err)
		}
	}
}

// TestS3WritersRace: two writers, on two state directories (two
// machines), on one bucket, allocating at once. Exactly one proceeds; the
// other stops with a clear error before writing anything the winner
// needs, and the log verifies with every code the winner acknowledged.
func TestS3WritersRace(t *testing.T) {
	srv := testenv.StartS3(t)
	_, dirs := sharedLog(t, srv, "race")
	ctx := context.Background()
	var ws [2]*Writer
	for i, d := range dirs {
		w, err := Open(ctx, Config{Dir: d, Store: bucketStore(t, srv, "race"), Now: tickingClock(), Workers: 8})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		ws[i] = w
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[int][]Result{}
	stopped := map[int]error{}
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 20 {
				res, err := w.Allocate(ctx, genRequests(i*100000+b*50, 50))
				mu.Lock()
				if err != nil {
					stopped[i] = err
					mu.Unlock()
					return
				}
				acked[i] = append(acked[i], res...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(stopped) != 1 {
		t.Fatalf("%d writers stopped (%v), want exactly one", len(stopped), stopped)
	}
	for i, err := range stopped {
		if !errors.Is(err, store.ErrLostRace) || !Permanent(err) {
			t.Errorf("writer %d stopped with %v, want ErrLostRace", i, err)
		}
		winner := 1 - i
		if len(acked[winner]) != 20*50 {
			t.Errorf("the winner allocated %d, want 1000", len(acked[winner]))
		}
		verifyBucketLog(t, srv, "race", dirs[winner], acked[winner])
		t.Logf("writer %d won; writer %d stopped after %d allocations: %v", winner, i, len(acked[i]), err)
	}
}

// TestS3TakeoverRemovesUnpublished: a writer dies in the middle of a
// batch; a new machine with the key and the bucket takes over. If the
// batch's files are all in place (it died at its checkpoint: witnesses may
// have cosigned it), the new writer adopts the batch as it was and goes on
// after it; if some are missing (it died writing them), it removes the
// rest and allocates other cities at the same indices. Either way the log
// verifies with every acknowledged code and a writer opened on it
// afterwards loads it. A dying batch within one 256-entry block (300 ->
// 350) leaves the level-1 partial tile as the published tree has it: a
// removal must keep it.
func TestS3TakeoverRemovesUnpublished(t *testing.T) {
	srv := testenv.StartS3(t)
	for _, c := range []struct {
		step    string
		dying   int
		adopted bool
		damaged string // a file of the batch changed before the takeover
	}{{"publish", 300, true, ""}, {"apply", 300, false, ""}, {"apply", 50, false, ""}, {"publish", 50, true, ""},
		{"publish", 300, false, "tile/0/002.p/88"}} {
		t.Run(fmt.Sprintf("died at %s of a batch of %d %s", c.step, c.dying, c.damaged), func(t *testing.T) {
			bucket := fmt.Sprintf("takeover-%s-%d-%d", c.step, c.dying, len(c.damaged))
			_, dirs := sharedLog(t, srv, bucket)
			ctx := context.Background()
			st := &stepFaults{Storage: bucketStore(t, srv, bucket), step: c.step, err: errors.New("the machine died")}
			a, err := Open(ctx, Config{Dir: dirs[0], Store: st, Now: tickingClock()})
			if err != nil {
				t.Fatal(err)
			}
			acked := mustAllocate(t, a, genRequests(0, 300))
			st.arm(true)
			if _, err := a.Allocate(ctx, genRequests(300, c.dying)); err == nil {
				t.Fatal("the dying batch was published")
			}
			a.Close() // the machine is gone: its staging with it
			if c.damaged != "" {
				bs := bucketStore(t, srv, bucket)
				orig, err := bs.ReadFile(ctx, c.damaged)
				if err != nil {
					t.Fatal(err)
				}
				orig[0] ^= 1
				if err := bs.RemoveFile(ctx, c.damaged); err != nil {
					t.Fatal(err)
				}
				if err := bs.CreateFile(ctx, c.damaged, orig); err != nil {
					t.Fatal(err)
				}
			}

			b, err := Open(ctx, Config{Dir: dirs[1], Store: bucketStore(t, srv, bucket), Now: tickingClock(), TakeoverWait: 100 * time.Millisecond})
			if err != nil {
				t.Fatalf("taking over: %v", err)
			}
			verifyBucketLog(t, srv, bucket, dirs[1], acked) // the published tree is whole
			b.Close()
			w, err := Open(ctx, Config{Dir: dirs[1], Store: bucketStore(t, srv, bucket), Now: tickingClock()})
			if err != nil {
				t.Fatalf("opening the log after the takeover: %v", err)
			}
			defer w.Close()
			next := uint64(300)
			if c.adopted {
				next += uint64(c.dying)
				// The lost batch's requests, resubmitted, find their codes.
				again := mustAllocate(t, w, genRequests(300, c.dying))
				for i, r := range again {
					if !r.Existing || r.Index != uint64(300+i) {
						t.Fatalf("request %d of the adopted batch again: %+v, want existing at %d", i, r, 300+i)
					}
				}
			}
			res := mustAllocate(t, w, genRequests(5000, 400)) // other cities
			if res[0].Index != next {
				t.Fatalf("the new writer allocated from %d, want %d", res[0].Index, next)
			}
			acked = append(acked, res...)
			verifyBucketLog(t, srv, bucket, dirs[1], acked)
		})
	}
}

// TestUnpublishedTiles: a takeover never removes a tile the published tree
// references, and removes everything else the growth wrote.
func TestUnpublishedTiles(t *testing.T) {
	for _, tc := range []struct{ a, b uint64 }{{0, 1}, {300, 350}, {300, 600}, {255, 256}, {256, 300}, {65536 + 300, 65536 + 350}, {70000, 70100}, {3000, 70000}} {
		kept := map[string]bool{}
		for _, tl := range tiles.EdgeTiles(tc.a) {
			kept[tl.Path()] = true
		}
		removed := map[string]bool{}
		for _, tl := range unpublishedTiles(tc.a, tc.b) {
			removed[tl.Path()] = true
			if kept[tl.Path()] {
				t.Errorf("%d->%d: a takeover removes %s, which the tree of size %d references", tc.a, tc.b, tl.Path(), tc.a)
			}
			if tl.Full() && (tl.Index+1)*tiles.Width<<(tiles.Height*uint(max(tl.Level, 0))) <= tc.a {
				t.Errorf("%d->%d: a takeover removes the full tile %s of the published tree", tc.a, tc.b, tl.Path())
			}
		}
		for _, tl := range grownTiles(tc.a, tc.b) {
			if !removed[tl.Path()] && !kept[tl.Path()] {
				t.Errorf("%d->%d: a takeover leaves %s, which only the unpublished batch wrote", tc.a, tc.b, tl.Path())
			}
		}
	}
}

// stallingStore holds one kind of write of a writer until released: the
// writer stalls there (a paused machine), as a real server cannot be made
// to hold it.
type stallingStore struct {
	Storage
	mu      sync.Mutex
	match   func(op, path string) bool
	stalled chan string   // hears the path of the first write held
	release chan struct{} // closed to let it go
}

func newStalling(s Storage, match func(op, path string) bool) *stallingStore {
	return &stallingStore{Storage: s, stalled: make(chan string, 1), release: make(chan struct{})}
}

func (s *stallingStore) arm(match func(op, path string) bool) {
	s.mu.Lock()
	s.match = match
	s.mu.Unlock()
}

func (s *stallingStore) hold(op, path string) {
	s.mu.Lock()
	m := s.match
	if m != nil && m(op, path) {
		s.match = nil // the first only
		s.mu.Unlock()
		s.stalled <- path
		<-s.release
		return
	}
	s.mu.Unlock()
}

func (s *stallingStore) Shared() bool { return isShared(s.Storage) }

func (s *stallingStore) CreateFile(ctx context.Context, p string, b []byte) error {
	s.hold("create", p)
	return s.Storage.CreateFile(ctx, p, b)
}

func (s *stallingStore) SwapFile(ctx context.Context, p string, b []byte) error {
	s.hold("swap", p)
	return s.Storage.SwapFile(ctx, p, b)
}

func (s *stallingStore) ReplaceFile(ctx context.Context, p string, b []byte) error {
	s.hold("replace", p)
	return s.Storage.ReplaceFile(ctx, p, b)
}

// TestS3TakeoverFencesStalledWriter: the old writer is not dead but
// stalled, past the takeover's wait, (a) with its batch's tiles written
// and its checkpoint swap not yet sent, or (b) before writing its tiles.
// A new writer takes over meanwhile. (a) The new writer adopts the batch
// (its files are all there): its checkpoint is the very one the old
// writer signed (Ed25519 signs deterministically), so the old writer's
// late swap finds its own bytes and acknowledges codes that are in the
// log, and the next batch it tries stops at the claim. (b) The new writer
// removes the batch; the old one's checkpoint swap fails (the takeover
// fenced the checkpoint), so the batch is never acknowledged, no
// checkpoint references a removed tile, and a tile it writes late does
// not stop the new writer. The log verifies with every acknowledged code.
func TestS3TakeoverFencesStalledWriter(t *testing.T) {
	srv := testenv.StartS3(t)
	for _, c := range []struct {
		name    string
		stall   func(op, path string) bool
		adopted bool
	}{
		{"before its checkpoint", func(op, p string) bool { return op == "swap" && p == CheckpointPath }, true},
		// Held at its first tile, it writes them all after the takeover
		// removed the batch: the full ones are at paths the new writer
		// needs, with other bytes.
		{"at its first tile", func(op, p string) bool { return op == "create" }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bucket := fmt.Sprintf("fence%d", time.Now().UnixNano())
			_, dirs := sharedLog(t, srv, bucket)
			ctx := context.Background()
			st := newStalling(bucketStore(t, srv, bucket), nil)
			a, err := Open(ctx, Config{Dir: dirs[0], Store: st, Now: tickingClock(), Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			acked := mustAllocate(t, a, genRequests(0, 200))
			st.arm(c.stall)
			oldDone := make(chan error, 1)
			go func() {
				_, err := a.Allocate(ctx, genRequests(200, 100)) // to size 300: tile/0/001.p/44
				oldDone <- err
			}()
			select {
			case p := <-st.stalled:
				t.Logf("the old writer stalled at %s", p)
			case err := <-oldDone:
				t.Fatalf("the old writer's batch ended without stalling: %v", err)
			}

			b, err := Open(ctx, Config{Dir: dirs[1], Store: bucketStore(t, srv, bucket), Now: tickingClock(), TakeoverWait: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("taking over: %v", err)
			}
			defer b.Close()
			close(st.release) // the old writer wakes
			next := uint64(200)
			if c.adopted {
				next = 300
				if err := <-oldDone; err != nil {
					t.Fatalf("the stalled writer's adopted batch ended with %v, want its own checkpoint found in place", err)
				}
				acked = append(acked, mustAllocate(t, b, genRequests(200, 100))...) // its codes, as the new writer has them
				if _, err := a.Allocate(ctx, genRequests(9000, 1)); !errors.Is(err, store.ErrLostRace) {
					t.Fatalf("the old writer's next batch: %v, want ErrLostRace", err)
				}
			} else if err := <-oldDone; !errors.Is(err, store.ErrLostRace) {
				t.Fatalf("the stalled writer's batch ended with %v, want ErrLostRace: it was published after the takeover", err)
			}
			res := mustAllocate(t, b, genRequests(5000, 400)) // other cities
			if res[0].Index != next {
				t.Fatalf("the new writer allocated from %d, want %d", res[0].Index, next)
			}
			verifyBucketLog(t, srv, bucket, dirs[1], append(acked, res...))
			// The checkpoint the fence left is the log's for every reader.
			key, _ := verifier.ParseKey(filepath.Join(dirs[1], StateDir, vkeyFile))
			if _, err := verifier.New(source.Source(bucketStore(t, srv, bucket)), key).Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFenceIsTheSameCheckpoint: the fenced checkpoint opens under the
// log's key, with the same size and root, and its bytes differ.
func TestFenceIsTheSameCheckpoint(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	mustAllocate(t, w, genRequests(0, 10))
	w.writerID = "test"
	before := w.published
	if err := w.fence(context.Background()); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, w.published) || !bytes.HasPrefix(w.published, before) {
		t.Fatalf("fenced checkpoint:\n%s\nwant the checkpoint\n%s\nwith one more line", w.published, before)
	}
	key, err := verifier.ParseKey(filepath.Join(dir, StateDir, vkeyFile))
	if err != nil {
		t.Fatal(err)
	}
	a, err := verifier.OpenCheckpoint(before, key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := verifier.OpenCheckpoint(w.published, key)
	if err != nil {
		t.Fatalf("the fenced checkpoint does not open: %v", err)
	}
	if a.Size != b.Size || a.Root != b.Root {
		t.Errorf("fenced checkpoint %d %x, want %d %x", b.Size, b.Root, a.Size, a.Root)
	}
	on, err := os.ReadFile(filepath.Join(dir, PublicDir, CheckpointPath))
	if err != nil || !bytes.Equal(on, w.published) {
		t.Errorf("the published file is not the fenced checkpoint (%v)", err)
	}
}

// recordingStore records the paths CreateFile writes.
type recordingStore struct {
	Storage
	mu    sync.Mutex
	paths map[string]bool
}

func (r *recordingStore) CreateFile(ctx context.Context, p string, b []byte) error {
	r.mu.Lock()
	r.paths[p] = true
	r.mu.Unlock()
	return r.Storage.CreateFile(ctx, p, b)
}

// TestGrownTiles: the tiles grownTiles names for a growth are every tile
// and bundle the writer may write for it, and those unpublishedTiles
// names are the ones it writes after a batch of its own: it leaves out
// the partial tiles the growth leaves as they were (tree.cut).
func TestGrownTiles(t *testing.T) {
	for _, tc := range []struct{ a, b int }{{0, 1}, {100, 300}, {255, 256}, {256, 257}, {3000, 70000}} {
		dir := newLog(t)
		rec := &recordingStore{Storage: mustStore(t, filepath.Join(dir, PublicDir)), paths: map[string]bool{}}
		w, err := Open(context.Background(), Config{Dir: dir, Store: rec, Now: tickingClock()})
		if err != nil {
			t.Fatal(err)
		}
		if tc.a > 0 {
			mustAllocate(t, w, genRequests(0, tc.a))
		}
		rec.paths = map[string]bool{}
		mustAllocate(t, w, genRequests(tc.a, tc.b-tc.a))
		w.Close()
		grown, want := map[string]bool{}, map[string]bool{}
		for _, tl := range grownTiles(uint64(tc.a), uint64(tc.b)) {
			grown[tl.Path()] = true
		}
		for _, tl := range unpublishedTiles(uint64(tc.a), uint64(tc.b)) {
			want[tl.Path()] = true
		}
		if len(want) != len(rec.paths) {
			t.Errorf("%d->%d: unpublishedTiles names %d files, the writer wrote %d", tc.a, tc.b, len(want), len(rec.paths))
		}
		for p := range rec.paths {
			if !want[p] || !grown[p] {
				t.Errorf("%d->%d: the writer wrote %s, which unpublishedTiles (%v) or grownTiles (%v) does not name", tc.a, tc.b, p, want[p], grown[p])
			}
		}
	}
}

// TestFirstCutAfterOpenHasEveryEdgeTile: a writer that opens a log writes
// every partial tile with its first batch, unchanged ones included: it
// cannot know that the last batch before it was published whole.
func TestFirstCutAfterOpenHasEveryEdgeTile(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 300))
	w.Close()
	rec := &recordingStore{Storage: mustStore(t, filepath.Join(dir, PublicDir)), paths: map[string]bool{}}
	w, err := Open(context.Background(), Config{Dir: dir, Store: rec, Now: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// At 301 and 302 entries, level 1 is the one hash of tile/0/000.
	level1 := tiles.Tile{Level: 1, Index: 0, Width: 1}.Path()
	for _, first := range []bool{true, false} {
		rec.paths = map[string]bool{}
		mustAllocate(t, w, genRequests(int(w.Size()), 1))
		if rec.paths[level1] != first {
			t.Errorf("at %d entries, %s written: %v; want %v", w.Size(), level1, rec.paths[level1], first)
		}
	}
}

// TestS3EdgeNeverShowsAnUnpublishedCheckpoint: checkpoint.edge holds a
// signed checkpoint and verifiers read it first, so no writer may leave in
// it a checkpoint that checkpoint did not publish, nor roll it back.
// (a) The old writer stalls before its checkpoint swap while a new one
// takes over and grows the log: once awake it fails (fenced), and the
// edge is the new writer's. (b) The old writer published its checkpoint
// and stalls before its edge swap while a second writer opens and grows
// the log: once awake its edge swap fails, and the edge stays the newer.
func TestS3EdgeNeverShowsAnUnpublishedCheckpoint(t *testing.T) {
	srv := testenv.StartS3(t)
	for _, c := range []struct{ name, stallAt string }{{"stalled before the checkpoint", CheckpointPath}, {"stalled before the edge", tiles.EdgePath}} {
		t.Run(c.name, func(t *testing.T) {
			bucket := "edge" + strconv.Itoa(len(c.stallAt))
			_, dirs := sharedLog(t, srv, bucket)
			ctx := context.Background()
			st := newStalling(bucketStore(t, srv, bucket), nil)
			a, err := Open(ctx, Config{Dir: dirs[0], Store: st, Now: tickingClock()})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			acked := mustAllocate(t, a, genRequests(0, 200))
			st.arm(func(op, p string) bool { return (op == "swap" || op == "replace") && p == c.stallAt })
			oldDone := make(chan error, 1)
			go func() { _, err := a.Allocate(ctx, genRequests(200, 100)); oldDone <- err }()
			<-st.stalled
			b, err := Open(ctx, Config{Dir: dirs[1], Store: bucketStore(t, srv, bucket), Now: tickingClock(), TakeoverWait: 50 * time.Millisecond})
			if err != nil {
				t.Fatalf("the second writer: %v", err)
			}
			defer b.Close()
			res := mustAllocate(t, b, genRequests(5000, 400))
			close(st.release)
			if err := <-oldDone; !errors.Is(err, store.ErrLostRace) {
				t.Fatalf("the old writer woke to %v, want ErrLostRace", err)
			}
			key, err := verifier.ParseKey(filepath.Join(dirs[1], StateDir, vkeyFile))
			if err != nil {
				t.Fatal(err)
			}
			cp, err := verifier.New(source.Source(bucketStore(t, srv, bucket)), key).Checkpoint(ctx)
			if err != nil || cp.Size != b.Size() {
				t.Fatalf("readers see size %d (%v), want the second writer's %d", cp.Size, err, b.Size())
			}
			verifyBucketLog(t, srv, bucket, dirs[1], append(acked, res...))
		})
	}
}

// TestS3TakeoverAfterWitnessesCosigned: the old writer stalls past the
// takeover's wait after its witness cosigned its batch's checkpoint (the
// cosignature comes once every file is durable, before the checkpoint is
// published). The new writer adopts the batch, so the witness, which
// holds that checkpoint, cosigns the log's later ones; another tree at
// those indices would be a fork that it refuses for ever.
func TestS3TakeoverAfterWitnessesCosigned(t *testing.T) {
	srv := testenv.StartS3(t)
	_, dirs := sharedLog(t, srv, "witnessed")
	ctx := context.Background()
	wvkey, _ := startWitness(t, dirs[:]...)
	st := newStalling(bucketStore(t, srv, "witnessed"), nil)
	a, err := Open(ctx, Config{Dir: dirs[0], Store: st, Now: tickingClock()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	acked := mustAllocate(t, a, genRequests(0, 200))
	st.arm(func(op, p string) bool { return op == "swap" && p == CheckpointPath })
	go a.Allocate(ctx, genRequests(200, 100)) // cosigned, then stalled for good
	<-st.stalled
	b, err := Open(ctx, Config{Dir: dirs[1], Store: bucketStore(t, srv, "witnessed"), Now: tickingClock(), TakeoverWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("taking over: %v", err)
	}
	defer b.Close()
	res, err := b.Allocate(ctx, genRequests(5000, 400))
	if err != nil {
		t.Fatalf("the new writer after the takeover: %v (does the witness refuse its tree?)", err)
	}
	if res[0].Index != 300 {
		t.Fatalf("the new writer allocated from %d, want 300, after the adopted batch", res[0].Index)
	}
	policy, _ := verifier.ParseWitnesses([]string{wvkey}, 1)
	key, _ := verifier.ParseKey(filepath.Join(dirs[1], StateDir, vkeyFile))
	cp, err := verifier.New(source.Source(bucketStore(t, srv, "witnessed")), key, policy).Checkpoint(ctx)
	if err != nil || cp.Size != 700 {
		t.Fatalf("the published checkpoint: size %d, %v; want 700 with the witness's cosignature", cp.Size, err)
	}
	verifyBucketLog(t, srv, "witnessed", dirs[1], append(acked, res...))
}
