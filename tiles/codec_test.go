package tiles

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestBundleVector(t *testing.T) {
	data, err := os.ReadFile("../testdata/vectors/tessera-log/tile/entries/000.p/3")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := ParseBundle(data, 3)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var rebuilt []byte
	for _, e := range entries {
		got = append(got, string(e))
		rebuilt, _ = AppendBundleEntry(rebuilt, e)
	}
	if strings.Join(got, ",") != "one,two,three" || !bytes.Equal(rebuilt, data) {
		t.Errorf("bundle = %q, rebuilt %x, want one,two,three and %x", got, rebuilt, data)
	}
}

func TestParseBundleRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		data  []byte
		width int
		want  string
	}{
		{"dangling length", []byte{0, 3, 'o', 'n', 'e', 0}, 1, "dangling"},
		{"overrun", []byte{0, 9, 'o', 'n', 'e'}, 1, "claims 9 bytes"},
		{"too few", []byte{0, 3, 'o', 'n', 'e'}, 2, "holds 1 entries, want 2"},
		{"too many", []byte{0, 1, 'a', 0, 1, 'b'}, 1, "more than 1"},
		{"empty", nil, 1, "holds 0 entries"},
		{"bad width", []byte{0, 0}, 257, "width"},
	} {
		_, err := ParseBundle(tc.data, tc.width)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := AppendBundleEntry(nil, make([]byte, MaxEntrySize+1)); err == nil {
		t.Error("oversize entry accepted")
	}
}

func TestCheckHashTile(t *testing.T) {
	if err := CheckHashTile(make([]byte, 64), 2); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct{ n, w int }{{63, 2}, {65, 2}, {0, 0}, {8224, 257}} {
		if err := CheckHashTile(make([]byte, tc.n), tc.w); err == nil {
			t.Errorf("CheckHashTile(%d bytes, width %d) accepted", tc.n, tc.w)
		}
	}
}

func FuzzParseBundle(f *testing.F) {
	f.Add([]byte{0, 3, 'o', 'n', 'e', 0, 3, 't', 'w', 'o'}, 2)
	f.Add([]byte{0, 0}, 1)
	f.Add([]byte{0xff, 0xff, 1}, 1)
	f.Fuzz(func(t *testing.T, data []byte, width int) {
		entries, err := ParseBundle(data, width)
		if err != nil {
			return
		}
		var rebuilt []byte
		for _, e := range entries {
			rebuilt, _ = AppendBundleEntry(rebuilt, e)
		}
		if !bytes.Equal(rebuilt, data) || len(entries) != width {
			t.Fatalf("ParseBundle(%x, %d) accepted %d entries that re-encode to %x", data, width, len(entries), rebuilt)
		}
	})
}

// TestAppendBundleEntryFunc: an entry encoded in place reads back as
// itself, and one too large leaves the bundle as it was.
func TestAppendBundleEntryFunc(t *testing.T) {
	b, err := AppendBundleEntryFunc([]byte{0, 1, 'x'}, func(b []byte) []byte { return append(b, "hello"...) })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if n, err := EachEntry(b, func(_ int, e []byte) error { got = append(got, string(e)); return nil }); err != nil || n != 2 {
		t.Fatalf("EachEntry = %d, %v", n, err)
	}
	if fmt.Sprint(got) != "[x hello]" {
		t.Errorf("entries %q", got)
	}
	big, err := AppendBundleEntryFunc(b, func(b []byte) []byte { return append(b, make([]byte, MaxEntrySize+1)...) })
	if err == nil || len(big) != len(b) {
		t.Errorf("oversized entry: %v, bundle %d bytes (was %d)", err, len(big), len(b))
	}
	if _, err := EachEntry([]byte{0, 5, 'a'}, func(int, []byte) error { return nil }); err == nil {
		t.Error("an overrun accepted")
	}
}
