package idshard

import (
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
	if s := Shard("geonames:1", 4); len(s) != len(Dir)+1 {
		t.Errorf("Shard = %q", s)
	}
	if s := Shard("geonames:1", 9); len(s) != len(Dir)+3 {
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
