package log

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// TestPublishIDIndexSplit: when the log outgrows its shard width, the
// shards are split into the wider ones, and the result is byte for byte
// the index a rebuild from the bundles gives; a split cut off by a crash
// (its mark left in state/) is redone from the bundles.
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
	split := shardFiles(5)
	for id, want := range map[string]uint64{"geonames:5": 4, "geonames:35000": 34999, "national:DE:test:39999": 39999} {
		if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != want {
			t.Errorf("%s -> %v, want %d", id, got, want)
		}
	}
	// Rebuild from the bundles, as after a split cut off by a crash.
	mark := filepath.Join(dir, StateDir, idSplitFile)
	if err := os.WriteFile(mark, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	mustAllocate(t, w, genRequests(40000, 1))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mark); err == nil {
		t.Error("the split mark survived a finished publication")
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

// TestPublishIDIndexRemovesStaleWidths: when the index widens to shard
// names of more hex digits, or is rebuilt, the shards of the other
// widths are removed: a static host would serve them forever.
func TestPublishIDIndexRemovesStaleWidths(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	width := 8
	w.shardBits = func(uint64) int { return width }
	countFiles := func(digits int) int {
		n := 0
		for name := range indexFiles(t, dir) {
			if name != "meta" && len(name) == digits {
				n++
			}
		}
		return n
	}
	mustAllocate(t, w, genRequests(0, 1000))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(2); n != 256 {
		t.Fatalf("%d shards of 2 digits at 8 bits, want 256", n)
	}
	width = 9
	mustAllocate(t, w, genRequests(1000, 1000))
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n2, n3 := countFiles(2), countFiles(3); n2 != 0 || n3 != 512 {
		t.Fatalf("after the split to 9 bits: %d shards of 2 digits (want 0), %d of 3 (want 512)", n2, n3)
	}
	if got := lookupPublished(t, dir, "geonames:1500"); len(got) != 1 || got[0] != 1499 {
		t.Errorf("geonames:1500 -> %v", got)
	}
	// A rebuild (here: after a split cut off by a crash after its meta
	// was published, which left the narrower shards behind) removes every
	// other width.
	pub := filepath.Join(dir, PublicDir, idshard.Dir)
	for _, name := range []string{"0", "7", "00", "ff", "0000", "abcd"} {
		if err := os.WriteFile(filepath.Join(pub, name), []byte("geonames:1\t0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, StateDir, idSplitFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n1, n2, n3, n4 := countFiles(1), countFiles(2), countFiles(3), countFiles(4); n1+n2+n4 != 0 || n3 != 512 {
		t.Fatalf("after the rebuild: %d, %d, %d, %d shards of 1-4 digits, want 0, 0, 512, 0", n1, n2, n3, n4)
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
	metaPath := filepath.Join(dir, PublicDir, idshard.MetaPath)
	meta, err := os.ReadFile(metaPath)
	if err != nil {
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
	if err := os.WriteFile(filepath.Join(dir, StateDir, idSplitFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err = w.PublishIDIndex(ctx)
	if err == nil || !strings.Contains(err.Error(), "entry 896 (in bundle tile/entries/003)") {
		t.Fatalf("rebuild over a damaged bundle: %v, want an error naming entry 896 and its bundle", err)
	}
	if after, _ := os.ReadFile(metaPath); string(after) != string(meta) {
		t.Errorf("meta changed to %q after a failed rebuild", after)
	}
}
