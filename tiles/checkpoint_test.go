package tiles

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestCheckpointVectors(t *testing.T) {
	v, err := note.NewVerifier("example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx")
	if err != nil {
		t.Fatal(err)
	}
	for size := 0; size <= 15; size++ {
		data, err := os.ReadFile(fmt.Sprintf("%s/tessera-log/checkpoint.%d", vectors, size))
		if err != nil {
			t.Fatal(err)
		}
		n, err := note.Open(data, note.VerifierList(v))
		if err != nil {
			t.Fatal(err)
		}
		c, ext, err := ParseCheckpoint([]byte(n.Text))
		if err != nil || c.Size != uint64(size) || c.Origin != "example.com/log/testdata" || len(ext) != 0 {
			t.Fatalf("checkpoint.%d: %+v %v %v", size, c, ext, err)
		}
		if string(c.Marshal()) != n.Text {
			t.Errorf("checkpoint.%d: Marshal = %q, want %q", size, c.Marshal(), n.Text)
		}
	}
}

func TestParseCheckpointRejects(t *testing.T) {
	const root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	const other = "0Nc2CrefWKseHj/mStd+LqC8B+NrX0btIiPt2SmN+ek="
	for _, tc := range []struct{ in, want string }{
		{"o\n0\n" + root, "newline"},
		{"o\n0\n", "lines"},
		{"\n0\n" + root + "\n", "origin"},
		{"o\n01\n" + other + "\n", "leading zeros"},
		{"o\n-1\n" + other + "\n", "decimal"},
		{"o\n18446744073709551616\n" + other + "\n", "decimal"},
		{"o\n1\n" + other[:40] + "\n", "32 bytes"},
		{"o\n1\n" + strings.Replace(other, "k=", "l=", 1) + "\n", "32 bytes"},
		{"o\n0\n" + other + "\n", "empty root"},
		{"o\n1\n" + other + "\n\n", "empty extension"},
		{"o\r\n1\n" + other + "\n", ""},
	} {
		_, _, err := ParseCheckpoint([]byte(tc.in))
		if tc.want == "" {
			continue // accepted: origins are opaque
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCheckpoint(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Add([]byte("o\n15\n0Nc2CrefWKseHj/mStd+LqC8B+NrX0btIiPt2SmN+ek=\next\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ext, err := ParseCheckpoint(b)
		if err != nil {
			return
		}
		out := string(c.Marshal())
		for _, e := range ext {
			out += e + "\n"
		}
		if out != string(b) {
			t.Fatalf("ParseCheckpoint(%q) re-encodes as %q", b, out)
		}
	})
}
