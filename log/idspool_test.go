package log

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/citylog/citylog/log/idshard"
)

// spoolRecords returns the records of n identifiers in buffers of up to
// 7 records, and their lines grouped by shard at each width, computed
// from the identifiers themselves.
func spoolRecords(n int) (bufs [][]byte, byShard map[int][][]byte) {
	byShard = map[int][][]byte{}
	var cur []byte
	for i := range n {
		id := fmt.Sprintf("geonames:%d", i*7919)
		cur = appendRecord(cur, idshard.Key(id), id, uint64(i))
		if i%7 == 6 {
			bufs, cur = append(bufs, cur), nil
		}
		for bits := idshard.MinBits; bits <= 10; bits++ {
			if byShard[bits] == nil {
				byShard[bits] = make([][]byte, 1<<bits)
			}
			k := idshard.ShardIndex(id, bits)
			byShard[bits][k] = fmt.Appendf(byShard[bits][k], "%s\t%d\n", id, i)
		}
	}
	return append(bufs, cur), byShard
}

// TestSpoolUnits: whether the records stayed in memory or were spilled
// at any point, reading the spool unit by unit gives every shard exactly
// the lines of the identifiers that hash to it (in any order: shards are
// sorted when written).
func TestSpoolUnits(t *testing.T) {
	bufs, byShard := spoolRecords(5000)
	for _, limit := range []int{1 << 30, 1, 4096, 100_000} {
		for _, bits := range []int{4, 5, 6, 9} {
			t.Run(fmt.Sprintf("limit=%d/bits=%d", limit, bits), func(t *testing.T) {
				sp := newSpool(t.TempDir(), 0, limit)
				defer sp.close()
				for _, b := range bufs {
					sp.add(b)
					sp.spillIfFull()
				}
				if err := sp.finish(); err != nil {
					t.Fatal(err)
				}
				n := sp.units(bits)
				if spilled := limit < 1<<30; spilled != (n > 1) {
					t.Fatalf("%d units with limit %d", n, limit)
				}
				want := byShard[bits]
				got := make([][]byte, 0, len(want))
				for u := range n {
					shards, err := sp.unit(u, n, bits)
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, shards...)
				}
				if len(got) != len(want) {
					t.Fatalf("%d shards, want %d", len(got), len(want))
				}
				for k := range want {
					g, w := sortedLines(got[k]), sortedLines(want[k])
					if !slices.Equal(g, w) {
						t.Fatalf("shard %d: %d lines, want %d (or other lines)", k, len(g), len(w))
					}
				}
			})
		}
	}
}

func sortedLines(b []byte) []string {
	lines := strings.SplitAfter(string(b), "\n")
	slices.Sort(lines)
	return lines
}

// TestSpoolBoundsMemory: past its limit a spool holds no line in memory.
func TestSpoolBoundsMemory(t *testing.T) {
	sp := newSpool(t.TempDir(), 0, 10_000)
	defer sp.close()
	bufs, _ := spoolRecords(20_000)
	for _, b := range bufs {
		sp.add(b)
		sp.spillIfFull()
		if sp.memBytes >= 10_000 {
			t.Fatalf("%d bytes in memory past a limit of 10,000", sp.memBytes)
		}
	}
	if sp.files == nil {
		t.Fatal("nothing was spilled")
	}
}

// TestSpoolLeavesNoFiles: the spool's files are unlinked from the start,
// so neither a finished publication nor a crash leaves one behind.
func TestSpoolLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	sp := newSpool(dir, 0, 1)
	defer sp.close()
	sp.add(appendRecord(nil, idshard.Key("geonames:1"), "geonames:1", 0))
	sp.spillIfFull()
	if sp.files == nil {
		t.Fatal("nothing was spilled")
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("the spool left %d files in its directory", len(names))
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
	mem, spill := openLog(t, memDir), openLog(t, spillDir)
	defer func() { mem.Close(); spill.Close() }()
	const limit = 50_000 // bytes: about 1,400 entries
	setSpoolLimit := func() {
		spill.spoolLimit = limit
		spill.pending.limit = limit
	}
	setSpoolLimit()
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
		if n >= 2000 && spill.pending.files == nil {
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
	mem, spill = openLog(t, memDir), openLog(t, spillDir)
	setSpoolLimit()
	step("restart", 36500, 200)
	// A split cut off by a crash: a full rebuild from the bundles.
	for _, d := range []string{memDir, spillDir} {
		if err := os.WriteFile(filepath.Join(d, StateDir, idSplitFile), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	step("rebuild", 36700, 10)
	// A spill that fails loses the spool's lines: they are read again.
	spill.pending.dir = filepath.Join(spillDir, "missing")
	allocate("failed spill", 36710, 2000)
	if spill.pending.err == nil {
		t.Fatal("a spill into a missing directory did not fail")
	}
	publish("failed spill")
	if got := lookupPublished(t, spillDir, "geonames:38000"); len(got) != 1 || got[0] != 37999 {
		t.Errorf("geonames:38000 -> %v", got)
	}
}
