package idpublish

import (
	"fmt"
	"os"
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
		cur = AppendRecord(cur, idshard.Key(id), id, uint64(i))
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
	sp.add(AppendRecord(nil, idshard.Key("geonames:1"), "geonames:1", 0))
	sp.spillIfFull()
	if sp.files == nil {
		t.Fatal("nothing was spilled")
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("the spool left %d files in its directory", len(names))
	}
}
