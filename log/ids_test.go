package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/citylog/citylog/log/idpublish"
	"github.com/citylog/citylog/log/idshard"
)

func publishedMeta(t *testing.T, dir string) idshard.Meta {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, PublicDir, idshard.MetaPath))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idshard.ParseMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func lookupPublished(t *testing.T, dir, id string) []uint64 {
	t.Helper()
	meta := publishedMeta(t, dir)
	b, err := os.ReadFile(filepath.Join(dir, PublicDir, idshard.Shard(id, meta.Bits)))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := idshard.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return idshard.Lookup(lines, id)
}

func TestPublishIDIndex(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 300))
	if err := w.PublishIDIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := lookupPublished(t, dir, "geonames:5"); len(got) != 1 || got[0] != 4 {
		t.Fatalf("geonames:5 -> %v", got)
	}
	// Incremental: a second batch, published by another writer session.
	mustAllocate(t, w, genRequests(300, 100))
	w.Close()
	w = openLog(t, dir)
	defer w.Close()
	mustAllocate(t, w, genRequests(400, 50))
	if err := w.PublishIDIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]uint64{"geonames:5": 4, "geonames:350": 349, "national:DE:test:420": 420} {
		if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != want {
			t.Errorf("%s -> %v, want %d", id, got, want)
		}
	}
}

// TestPublishIDIndexWhileCommitting: a server prepares and publishes
// batches while it brings the index up to date; the lines of a batch
// committed meanwhile must reach the index at the next publication.
func TestPublishIDIndexWhileCommitting(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	ctx := context.Background()
	const batches, per = 20, 30
	for i := 0; i < batches; i++ {
		b, err := w.Prepare(ctx, genRequests(i*per, per))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := w.Publish(ctx, b); done <- err }()
		if err := w.PublishIDIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < batches*per; i++ {
		id := fmt.Sprintf("geonames:%d", i+1)
		if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != uint64(i) {
			t.Fatalf("%s -> %v, want %d", id, got, i)
		}
	}
}

// damageMeta overwrites the published meta, so that the next publication
// rebuilds the index from the bundles.
func damageMeta(t *testing.T, dir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, PublicDir, idshard.MetaPath), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// widthFiles counts the shard files of each width directory of a log's
// public index (key 0: files of citylog's first layout, outside them).
func widthFiles(t *testing.T, dir string) map[int]int {
	t.Helper()
	n := map[int]int{}
	for name := range indexFiles(t, dir) {
		if name == "meta" {
			continue
		}
		w, _, ok := strings.Cut(name, "/")
		bits := 0
		if ok {
			fmt.Sscan(w, &bits)
		}
		n[bits]++
	}
	return n
}

// TestPublishIDIndexSplit: when the log outgrows its shard width, the
// shards are split into the wider ones, and the result is byte for byte
// the index a rebuild from the bundles gives.
func TestPublishIDIndexSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 40,000 entries")
	}
	ctx := context.Background()
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	pub := filepath.Join(dir, PublicDir)
	shardFiles := func(bits int) map[string]string {
		out := map[string]string{}
		for i := uint32(0); i < 1<<bits; i++ {
			b, err := os.ReadFile(filepath.Join(pub, idshard.ShardPath(i, bits)))
			if err != nil {
				t.Fatal(err)
			}
			out[idshard.ShardPath(i, bits)] = string(b)
		}
		return out
	}
	mustAllocate(t, w, genRequests(0, 30000)) // 60,000 identifiers: 4 bits
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if m := publishedMeta(t, dir); m.Bits != 4 {
		t.Fatalf("meta %+v, want 4 bits", m)
	}
	mustAllocate(t, w, genRequests(30000, 10000)) // 80,000: 5 bits
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if m := publishedMeta(t, dir); m.Bits != 5 || m.Size != 40000 {
		t.Fatalf("meta %+v, want 5 bits for size 40000", m)
	}
	if n := widthFiles(t, dir); n[5] != 32 || len(n) != 1 {
		t.Fatalf("shard files by width after the split: %v, want 32 of 5 bits only", n)
	}
	split := shardFiles(5)
	for id, want := range map[string]uint64{"geonames:5": 4, "geonames:35000": 34999, "national:DE:test:39999": 39999} {
		if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != want {
			t.Errorf("%s -> %v, want %d", id, got, want)
		}
	}
	// Rebuild from the bundles.
	damageMeta(t, dir)
	mustAllocate(t, w, genRequests(40000, 1))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// The rebuild, without entry 40000's lines, is the split's index.
	for path, data := range shardFiles(5) {
		lines, err := idshard.Parse([]byte(data))
		if err != nil {
			t.Fatal(err)
		}
		lines = slices.DeleteFunc(lines, func(l idshard.Line) bool { return l.Leaf == 40000 })
		if got := string(idshard.Marshal(lines)); got != split[path] {
			t.Errorf("%s: the split gives %d bytes, the rebuild %d", path, len(split[path]), len(got))
		}
	}
	if got := lookupPublished(t, dir, "geonames:40001"); len(got) != 1 || got[0] != 40000 {
		t.Errorf("geonames:40001 -> %v", got)
	}
}

// TestPublishIDIndexRemovesStaleWidths: when the index widens, or is
// rebuilt at another width, the shards of the other widths are removed (a
// static host would serve them forever), and so are the shards of
// citylog's first layout, which had no width directories.
func TestPublishIDIndexRemovesStaleWidths(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	width := 8
	w, err := Open(ctx, Config{Dir: dir, Now: fixedClock(), IDIndex: idpublish.Options{Bits: func(uint64) int { return width }}})
	if err != nil {
		t.Fatal(err)
	}
	mustAllocate(t, w, genRequests(0, 1000))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := widthFiles(t, dir); n[8] != 256 || len(n) != 1 {
		t.Fatalf("shard files by width: %v, want 256 of 8 bits", n)
	}
	width = 9
	mustAllocate(t, w, genRequests(1000, 1000))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := widthFiles(t, dir); n[9] != 512 || len(n) != 1 {
		t.Fatalf("after the split to 9 bits: %v, want 512 of 9 bits only", n)
	}
	if got := lookupPublished(t, dir, "geonames:1500"); len(got) != 1 || got[0] != 1499 {
		t.Errorf("geonames:1500 -> %v", got)
	}
	// A log of citylog's first layout: flat shards and a meta without a
	// version, which is rebuilt in the width directories.
	pub := filepath.Join(dir, PublicDir, idshard.Dir)
	os.RemoveAll(pub)
	os.MkdirAll(pub, 0o755)
	for i := range 256 {
		if err := os.WriteFile(filepath.Join(pub, fmt.Sprintf("%02x", i)), []byte("geonames:1\t0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(pub, "meta"), []byte(`{"size":2000,"bits":8}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, StateDir, "ids-split"), nil, 0o600)
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := widthFiles(t, dir); n[9] != 512 || len(n) != 1 {
		t.Fatalf("after rebuilding a first-layout index: %v, want 512 of 9 bits only", n)
	}
	if got := lookupPublished(t, dir, "geonames:1500"); len(got) != 1 || got[0] != 1499 {
		t.Errorf("geonames:1500 -> %v", got)
	}
	w.Close()
	w2 := openLog(t, dir)
	defer w2.Close()
	if _, err := os.Stat(filepath.Join(dir, StateDir, "ids-split")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the first layout's mark survived an open: %v", err)
	}
}

// TestRebuildIDIndexDamagedBundle: a rebuild that meets a damaged entry
// bundle fails naming it, and leaves the published meta as it was.
func TestRebuildIDIndexDamagedBundle(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	mustAllocate(t, w, genRequests(0, 2000))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, PublicDir, "tile/entries/003")
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(bundle, data, 0o644); err != nil {
		t.Fatal(err)
	}
	damageMeta(t, dir)
	err = w.PublishIDIndex(ctx)
	if err == nil || !strings.Contains(err.Error(), "entry 896 (in bundle tile/entries/003)") {
		t.Fatalf("rebuild over a damaged bundle: %v, want an error naming entry 896 and its bundle", err)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, PublicDir, idshard.MetaPath)); string(after) != "garbage" {
		t.Errorf("meta changed to %q after a failed rebuild", after)
	}
}

// faultyIndexStore makes PutFile fail from the failPut-th call on and
// RemoveFile fail while failRemove is set: a crash or a full disk during
// a split, a rebuild or the removal of another width.
type faultyIndexStore struct {
	Storage
	puts       atomic.Int64
	failPut    atomic.Int64
	failRemove atomic.Bool
}

func (s *faultyIndexStore) PutFile(ctx context.Context, p string, b []byte) error {
	if n, at := s.puts.Add(1), s.failPut.Load(); at > 0 && n >= at {
		return errInjected
	}
	return s.Storage.PutFile(ctx, p, b)
}

func (s *faultyIndexStore) RemoveFile(ctx context.Context, p string) error {
	if s.failRemove.Load() {
		return errInjected
	}
	return s.Storage.RemoveFile(ctx, p)
}

// TestIndexSurvivesFaults: whatever cuts a split, a rebuild or the
// removal of the other widths short, the published index stays right for
// its meta, and later publications leave only the shards of the published
// width, holding every identifier.
func TestIndexSurvivesFaults(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int)
		want map[int]int // shard files by width at the end
	}{
		{
			name: "split cut off, then a wider split",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				*width = 9
				mustAllocate(t, w, genRequests(500, 100))
				st.failPut.Store(st.puts.Load() + 300)
				if err := w.PublishIDIndex(ctx); !errors.Is(err, errInjected) {
					t.Fatalf("split: %v", err)
				}
				st.failPut.Store(0)
				// The published index is the narrower one, whole.
				if m := publishedMeta(t, dir); m.Bits != 8 {
					t.Fatalf("meta %+v after the failed split", m)
				}
				if got := lookupPublished(t, dir, "geonames:400"); len(got) != 1 || got[0] != 399 {
					t.Fatalf("geonames:400 -> %v after the failed split", got)
				}
				*width = 13
			},
			want: map[int]int{13: 8192},
		},
		{
			name: "split cut off, then the same split",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				*width = 9
				st.failPut.Store(st.puts.Load() + 100)
				if err := w.PublishIDIndex(ctx); !errors.Is(err, errInjected) {
					t.Fatalf("split: %v", err)
				}
				st.failPut.Store(0)
			},
			want: map[int]int{9: 512},
		},
		{
			// A damaged meta: a rebuild, whose removals of the old width fail.
			name: "removal of the old width fails",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				damageMeta(t, dir)
				*width = 9
				st.failRemove.Store(true)
				if err := w.PublishIDIndex(ctx); !errors.Is(err, errInjected) {
					t.Fatalf("rebuild: %v", err)
				}
				st.failRemove.Store(false)
				if m := publishedMeta(t, dir); m.Bits != 9 {
					t.Fatalf("meta %+v after the rebuild", m)
				}
			},
			want: map[int]int{9: 512},
		},
		{
			name: "rebuild to a narrower width",
			run: func(t *testing.T, w *Writer, st *faultyIndexStore, dir string, width *int) {
				*width = 5
			},
			want: map[int]int{5: 32},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newLog(t)
			st := &faultyIndexStore{Storage: mustStore(t, filepath.Join(dir, PublicDir))}
			width := 8
			w, err := Open(ctx, Config{Dir: dir, Now: fixedClock(), Store: st, IDIndex: idpublish.Options{Bits: func(uint64) int { return width }}})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			mustAllocate(t, w, genRequests(0, 500))
			if err := w.PublishIDIndex(ctx); err != nil {
				t.Fatal(err)
			}
			tc.run(t, w, st, dir, &width)
			var res []Result
			for i := range 2 {
				res = mustAllocate(t, w, genRequests(700+10*i, 10))
				if err := w.PublishIDIndex(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if got := widthFiles(t, dir); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("shard files by width: %v, want %v", got, tc.want)
			}
			for id, want := range map[string]uint64{"geonames:711": res[0].Index, "geonames:5": 4, "geonames:400": 399} {
				if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != want {
					t.Errorf("%s -> %v, want [%d]", id, got, want)
				}
			}
		})
	}
}

// indexFiles reads every file of a log's public identifier index.
func indexFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(dir, PublicDir, idshard.Dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		name, _ := filepath.Rel(root, p)
		out[name] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPublishIDIndexSpilled: the index published from a spool that
// spilled — incremental, split to a wider index, after a restart, rebuilt
// from the bundles, and after a spill that failed — is byte for byte the
// index published from lines held in memory.
func TestPublishIDIndexSpilled(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 2 x 36,000 entries")
	}
	ctx := context.Background()
	memDir, spillDir := newLog(t), newLog(t)
	scratch := filepath.Join(spillDir, "scratch")
	os.Mkdir(scratch, 0o700)
	openSpilling := func() *Writer {
		t.Helper()
		const limit = 50_000 // bytes: about 1,400 entries
		w, err := Open(ctx, Config{Dir: spillDir, Now: fixedClock(), IDIndex: idpublish.Options{SpoolLimit: limit, ScratchDir: scratch}})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	mem, spill := openLog(t, memDir), openSpilling()
	defer func() { mem.Close(); spill.Close() }()
	allocate := func(name string, from, n int) {
		t.Helper()
		for _, w := range []*Writer{mem, spill} {
			for i := from; i < from+n; i += 3000 {
				mustAllocate(t, w, genRequests(i, min(3000, from+n-i)))
			}
		}
	}
	publish := func(name string) {
		t.Helper()
		for _, w := range []*Writer{mem, spill} {
			if err := w.PublishIDIndex(ctx); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		want, got := indexFiles(t, memDir), indexFiles(t, spillDir)
		if len(got) != len(want) {
			t.Fatalf("%s: %d index files, want %d", name, len(got), len(want))
		}
		for path, data := range want {
			if got[path] != data {
				t.Fatalf("%s: %s differs (%d bytes, want %d)", name, path, len(got[path]), len(data))
			}
		}
	}
	step := func(name string, from, n int) {
		t.Helper()
		allocate(name, from, n)
		if _, spilled, _ := spill.ids.Pending(); n >= 2000 && !spilled {
			t.Fatalf("%s: nothing was spilled", name)
		}
		publish(name)
	}
	step("first", 0, 5000)
	if m := publishedMeta(t, spillDir); m.Bits != 4 {
		t.Fatalf("meta %+v, want 4 bits", m)
	}
	step("incremental", 5000, 6000)
	step("split", 11000, 25000)
	if m := publishedMeta(t, spillDir); m.Bits != 5 {
		t.Fatalf("meta %+v, want 5 bits after the split", m)
	}
	// After a restart the lines published before it come from the bundles.
	for _, w := range []*Writer{mem, spill} {
		mustAllocate(t, w, genRequests(36000, 500))
	}
	mem.Close()
	spill.Close()
	mem, spill = openLog(t, memDir), openSpilling()
	step("restart", 36500, 200)
	// A damaged meta: a full rebuild from the bundles.
	for _, d := range []string{memDir, spillDir} {
		damageMeta(t, d)
	}
	step("rebuild", 36700, 10)
	// A spill that fails loses the spool's lines: they are read again.
	os.RemoveAll(scratch)
	allocate("failed spill", 36710, 2000)
	if _, _, lost := spill.ids.Pending(); !lost {
		t.Fatal("a spill into a missing directory did not fail")
	}
	os.Mkdir(scratch, 0o700) // the condition clears; the lost lines come from the bundles
	publish("failed spill")
	if got := lookupPublished(t, spillDir, "geonames:38000"); len(got) != 1 || got[0] != 37999 {
		t.Errorf("geonames:38000 -> %v", got)
	}
}
