package tiles

import (
	"crypto/sha256"
	"testing"
)

// TestHasherLeaf: a Hasher reused across leaves gives SHA-256(0x00 ||
// entry) for each, and allocates nothing (a writer hashes every leaf with
// one).
func TestHasherLeaf(t *testing.T) {
	var h Hasher
	for _, e := range []string{"", "entry", string(make([]byte, 1000)), "x"} {
		if got, want := h.Leaf([]byte(e)), sha256.Sum256(append([]byte{0}, e...)); got != want {
			t.Errorf("Leaf(%q) = %x, want %x", e, got, want)
		}
	}
	e := []byte("entry")
	if n := testing.AllocsPerRun(100, func() { h.Leaf(e) }); n != 0 {
		t.Errorf("Leaf allocates %v times", n)
	}
}
