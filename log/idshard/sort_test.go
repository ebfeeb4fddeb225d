package idshard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSortLinesOrdersAsCompare checks the word-by-word sort against the
// plain comparison, on identifiers built to defeat it: long shared
// prefixes, identifiers that are prefixes of others, NUL and high bytes
// at and around the 8-byte boundaries, and identifiers repeated with
// other leaves.
func TestSortLinesOrdersAsCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "\x00", "\x01", "a", "b", "\x7f", "\xff", "geonames:", "national:CN:", "7", "\x00\x00\x00\x00\x00\x00\x00\x00"}
	for round := range 300 {
		var lines []Line
		for range 1 + r.IntN(400) {
			var id string
			for range r.IntN(6) {
				id += pieces[r.IntN(len(pieces))]
			}
			switch r.IntN(4) {
			case 0:
				id = fmt.Sprintf("geonames:%d", r.IntN(100000))
			case 1:
				id = fmt.Sprintf("national:CN:bench:%d", r.IntN(1000))
			}
			lines = append(lines, Line{ID: id, Leaf: uint64(r.IntN(3))})
		}
		want := slices.Clone(lines)
		slices.SortFunc(want, compare)
		sortLines(lines)
		if !slices.Equal(lines, want) {
			t.Fatalf("round %d: sortLines differs from sorting with compare:\n got %q\nwant %q", round, ids(lines), ids(want))
		}
	}
}

func ids(lines []Line) []string {
	var out []string
	for _, l := range lines {
		out = append(out, fmt.Sprintf("%s/%d", l.ID, l.Leaf))
	}
	return out
}

// benchLines is a shard's worth of new lines shaped like a generated
// import: geonames and national identifiers, in leaf order.
func benchLines() []Line {
	var lines []Line
	for i := range 2048 {
		leaf := uint64(i * 512)
		lines = append(lines, Line{fmt.Sprintf("geonames:%d", leaf+1), leaf}, Line{fmt.Sprintf("national:%s:bench:%d", []string{"CN", "FR", "DE", "US"}[i%4], leaf), leaf})
	}
	return lines
}

func BenchmarkSortLines(b *testing.B) {
	src := benchLines()
	lines := make([]Line, len(src))
	b.Run("words", func(b *testing.B) {
		for b.Loop() {
			copy(lines, src)
			sortLines(lines)
		}
	})
	b.Run("compare", func(b *testing.B) {
		for b.Loop() {
			copy(lines, src)
			slices.SortFunc(lines, compare)
		}
	})
}

// FuzzSortLines holds the radix sort to the plain comparison on any
// identifiers: the input's lines, each given a leaf from its position.
func FuzzSortLines(f *testing.F) {
	f.Add([]byte("geonames:10\ngeonames:1\nnational:CN:bench:7\ngeonames:1\nabc\x00\nabc\n"))
	f.Add([]byte(strings.Repeat("national:FR:INSEE:75056\nnational:FR:INSEE:7505\n", 20)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var lines []Line
		for i, id := range strings.Split(string(data), "\n") {
			lines = append(lines, Line{ID: id, Leaf: uint64(i % 3)})
		}
		want := slices.Clone(lines)
		slices.SortFunc(want, compare)
		sortLines(lines)
		if !slices.Equal(lines, want) {
			t.Fatalf("sortLines differs from sorting with compare:\n got %q\nwant %q", ids(lines), ids(want))
		}
	})
}
