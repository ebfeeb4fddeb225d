package main

import (
	"testing"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
)

func entriesFrom(from uint64, n int) []entry.Entry {
	out := make([]entry.Entry, n)
	for i := range out {
		out[i].Code = idcode.Code{Country: "DE", Subdivision: "BY", Index: from + uint64(i)}
	}
	return out
}

// TestFreshEntries: an import's batches are kept as one run, its last
// freshCap entries; a batch that does not continue the run starts it
// again.
func TestFreshEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches [][2]uint64 // from, count
		from    uint64
		n       int
	}{
		{"one batch", [][2]uint64{{100, 300}}, 100, 300},
		{"batches that follow", [][2]uint64{{100, 300}, {400, 50}, {450, 1}}, 100, 351},
		{"near twice the cap", [][2]uint64{{0, freshCap - 10}, {freshCap - 10, freshCap}}, 0, 2*freshCap - 10},
		{"twice the cap, cut back", [][2]uint64{{0, freshCap - 10}, {freshCap - 10, freshCap + 20}}, freshCap + 10, freshCap},
		{"a gap starts again", [][2]uint64{{0, 300}, {500, 20}}, 500, 20},
	} {
		var f freshEntries
		for _, b := range tc.batches {
			f.add(entriesFrom(b[0], int(b[1])))
		}
		if f.From != tc.from || len(f.Entries) != tc.n {
			t.Errorf("%s: from %d, %d entries; want from %d, %d", tc.name, f.From, len(f.Entries), tc.from, tc.n)
			continue
		}
		for i, e := range f.Entries {
			if e.Code.Index != f.From+uint64(i) {
				t.Errorf("%s: entry %d holds index %d", tc.name, i, e.Code.Index)
				break
			}
		}
	}
}
