package jsonquote

import (
	"bytes"
	"encoding/json"
	"testing"
)

var tricky = []string{
	"", "Paris", `quote " and backslash \`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "São Paulo — Zürich 東京 🏙", "line\u2028para\u2029", "bad \xff utf-8 \xe2\x80", "\xed\xa0\x80 surrogate",
}

// FuzzAppend holds Append to encoding/json for any bytes.
func FuzzAppend(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := Append(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("Append(%q) = %s, encoding/json %s", s, got, want)
		}
		if got := Append(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("Append([]byte(%q)) = %s, encoding/json %s", s, got, want)
		}
	})
}
