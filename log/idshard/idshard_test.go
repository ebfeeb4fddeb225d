package idshard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestRoundTripAndLookup(t *testing.T) {
	lines := []Line{{"unlocode:FRPAR", 2}, {"geonames:1", 0}, {"geonames:1", 0}, {"geonames:10", 5}}
	b := Marshal(lines)
	if string(b) != "geonames:1\t0\ngeonames:10\t5\nunlocode:FRPAR\t2\n" {
		t.Fatalf("Marshal = %q", b)
	}
	got, err := Parse(b)
	if err != nil || len(got) != 3 {
		t.Fatal(got, err)
	}
	if l := Lookup(got, "geonames:10"); len(l) != 1 || l[0] != 5 {
		t.Errorf("Lookup = %v", l)
	}
	if l := Lookup(got, "geonames:2"); len(l) != 0 {
		t.Errorf("absent: %v", l)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\t1", "newline"},
		{"a 1\n", "TAB"},
		{"\t1\n", "TAB"},
		{"a\t01\n", "TAB"},
		{"a\t-1\n", "TAB"},
		{"b\t1\na\t2\n", "out of order"},
		{"a\t1\na\t1\n", "out of order"},
	} {
		if _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestMetaAndShards(t *testing.T) {
	m, err := ParseMeta(Meta{Size: 10, Bits: 5}.Marshal())
	if err != nil || m.Size != 10 || m.Bits != 5 {
		t.Fatal(m, err)
	}
	for _, bad := range []string{`{"size":1,"bits":2}`, `{"size":1,"bits":5,"x":1}`, `nope`} {
		if _, err := ParseMeta([]byte(bad)); err == nil {
			t.Errorf("ParseMeta(%s) accepted", bad)
		}
	}
	if BitsFor(0) != MinBits || BitsFor(2_000_000) != 9 || BitsFor(1<<40) != MaxBits {
		t.Errorf("BitsFor: %d %d %d", BitsFor(0), BitsFor(2_000_000), BitsFor(1<<40))
	}
	for _, tc := range []struct {
		i    uint32
		bits int
		want string
	}{
		{6, 4, "index/ids/4/6"},
		{0xcd, 9, "index/ids/9/0cd"},
		{0x1ff, 9, "index/ids/9/1ff"},
		{0xabcd, 16, "index/ids/16/abcd"},
	} {
		if got := ShardPath(tc.i, tc.bits); got != tc.want {
			t.Errorf("ShardPath(%#x, %d) = %q, want %q", tc.i, tc.bits, got, tc.want)
		}
	}
	if s := Shard("geonames:1", 9); s != ShardPath(ShardIndex("geonames:1", 9), 9) {
		t.Errorf("Shard = %q", s)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("geonames:1\t0\ngeonames:10\t5\n"))
	f.Add([]byte("a\t1\na\t2\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := Parse(b)
		if err != nil {
			return
		}
		if string(Marshal(lines)) != string(b) {
			t.Fatalf("Parse(%q) re-encodes differently", b)
		}
	})
}

// TestMergeEqualsMarshal: Merge gives Marshal's bytes for the union of a
// shard and new lines, duplicates included, and refuses what Parse does.
// referenceShard is a shard written the plain way, to hold Merge and
// Marshal to: sorted with compare, repeats dropped, one line each.
func referenceShard(lines []Line) []byte {
	lines = slices.Clone(lines)
	slices.SortFunc(lines, compare)
	var b []byte
	for _, l := range slices.Compact(lines) {
		b = fmt.Appendf(b, "%s\t%d\n", l.ID, l.Leaf)
	}
	return b
}

func TestMergeEqualsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	randLines := func(n int) []Line {
		out := make([]Line, n)
		for i := range out {
			out[i] = Line{fmt.Sprintf("geonames:%d", rng.IntN(50)), rng.Uint64N(5)}
		}
		return out
	}
	for round := range 500 {
		old := referenceShard(randLines(rng.IntN(40)))
		if m := randLines(rng.IntN(40)); string(Marshal(slices.Clone(m))) != string(referenceShard(m)) {
			t.Fatalf("round %d: Marshal(%v) = %q, want %q", round, m, Marshal(slices.Clone(m)), referenceShard(m))
		}
		add := randLines(rng.IntN(20))
		prev, err := Parse(old)
		if err != nil {
			t.Fatal(err)
		}
		want := referenceShard(append(slices.Clone(prev), add...))
		got, err := Merge(old, slices.Clone(add))
		if err != nil || string(got) != string(want) {
			t.Fatalf("round %d: Merge(%q, %v) = %q, %v; want %q", round, old, add, got, err, want)
		}
	}
	for _, bad := range []string{"a\t1", "a 1\n", "\t1\n", "a\t01\n", "a\t-1\n", "a\t\n", "a\t18446744073709551616\n", "b\t1\na\t2\n", "a\t1\na\t1\n", "a\t2\na\t1\n"} {
		for _, add := range [][]Line{nil, {{"a", 1}}, {{"b", 1}, {"a", 2}}} {
			if _, err := Merge([]byte(bad), add); err == nil {
				t.Errorf("Merge(%q, %v) accepted a shard Parse refuses", bad, add)
			}
		}
	}
	if got, err := Merge([]byte("a\t18446744073709551615\n"), nil); err != nil || string(got) != "a\t18446744073709551615\n" {
		t.Errorf("largest leaf: %q, %v", got, err)
	}
}

func FuzzMerge(f *testing.F) {
	f.Add([]byte("geonames:1\t0\ngeonames:10\t5\n"), "geonames:1", uint64(0), "geonames:2", uint64(3))
	f.Add([]byte("a\t1\n"), "a", uint64(2), "", uint64(0))
	f.Fuzz(func(t *testing.T, old []byte, id1 string, leaf1 uint64, id2 string, leaf2 uint64) {
		var add []Line
		for _, l := range []Line{{id1, leaf1}, {id2, leaf2}} {
			if l.ID != "" && !strings.ContainsAny(l.ID, "\t\n") {
				add = append(add, l)
			}
		}
		prev, perr := Parse(old)
		got, err := Merge(old, slices.Clone(add))
		if (perr == nil) != (err == nil) {
			t.Fatalf("Parse(%q) = %v but Merge = %v", old, perr, err)
		}
		if err == nil {
			if want := Marshal(append(prev, add...)); string(got) != string(want) {
				t.Fatalf("Merge(%q, %v) = %q, want %q", old, add, got, want)
			}
		}
	})
}

// BenchmarkMerge: one shard of a 20M-entry log (about 2,500 lines) gains
// the lines of a 1M-entry import (about 120): what every shard costs when
// a large import is published into a large log.
func BenchmarkMerge(b *testing.B) {
	var old []Line
	for i := range 2500 {
		old = append(old, Line{fmt.Sprintf("geonames:%d", 1000003*i%99999989), uint64(i) * 8191 % 20_000_000}) // leaves of a 20M log
	}
	shard := Marshal(old)
	adds := make([]Line, 120)
	for i := range adds {
		adds[i] = Line{fmt.Sprintf("national:DE:%d", 7919*i), uint64(20_000_000 + i)}
	}
	add := make([]Line, len(adds))
	b.SetBytes(int64(len(shard)))
	b.ReportAllocs()
	for b.Loop() {
		copy(add, adds) // Merge sorts add
		if _, err := Merge(shard, add); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseMeta(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{`{"v":2,"size":1000,"bits":9}` + "\n", true},
		{`{"v":2,"size":0,"bits":4}`, true},
		{`{"size":1000,"bits":9}` + "\n", false}, // the first layout: shards elsewhere
		{`{"v":3,"size":1000,"bits":9}`, false},
		{`{"size":1,"bits":3}`, false},
		{`{"size":1,"bits":17}`, false},
		{`{"size":-1,"bits":9}`, false},
		{`{"size":1,"bits":9,"extra":1}`, false},
		{`{"size":1,"bits":9} {}`, false},
		{`{"size":1,"bits":9}x`, false},
		{``, false},
	} {
		if _, err := ParseMeta([]byte(tc.in)); (err == nil) != tc.ok {
			t.Errorf("ParseMeta(%q): %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
}

// FuzzParseMeta: the meta comes from any mirror; parsing never panics,
// and what parses has bits in range and re-encodes to a meta that parses
// the same.
func FuzzParseMeta(f *testing.F) {
	f.Add([]byte(`{"size":1000,"bits":9}` + "\n"))
	f.Add([]byte(`{"size":1,"bits":3}`))
	f.Add([]byte(`{"size":-1,"bits":9,"x":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMeta(b)
		if err != nil {
			return
		}
		if m.Bits < MinBits || m.Bits > MaxBits {
			t.Fatalf("ParseMeta(%q) = %+v: bits out of range", b, m)
		}
		if again, err := ParseMeta(m.Marshal()); err != nil || again != m {
			t.Fatalf("%+v re-parses as %+v, %v", m, again, err)
		}
	})
}

// TestParseLeaf: a leaf index is accepted exactly when strconv writes it
// so (decimal, no sign, no leading zero), up to the largest uint64.
func TestParseLeaf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7, true},
		{"9999999999999999999", 9999999999999999999, true}, // 19 digits
		{"10000000000000000000", 10000000000000000000, true},
		{"18446744073709551615", 18446744073709551615, true}, // the largest
		{"18446744073709551616", 0, false},
		{"18446744073709551625", 0, false},
		{"99999999999999999999", 0, false},
		{"100000000000000000000", 0, false}, // 21 digits
		{"", 0, false},
		{"01", 0, false},
		{"00", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1a", 0, false},
		{"1 ", 0, false},
	} {
		got, ok := parseLeaf(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseLeaf(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
