package jsonquote

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppend holds Append to encoding/json for any bytes.
func FuzzAppend(f *testing.F) {
	for _, s := range Tricky {
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
