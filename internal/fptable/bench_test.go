package fptable

import (
	"fmt"
	"path/filepath"
	"testing"
)

func BenchmarkInsert2M(b *testing.B) {
	for b.Loop() {
		x, err := Create(filepath.Join(b.TempDir(), "ids"))
		if err != nil {
			b.Fatal(err)
		}
		for i := uint64(0); i < 2_000_000; i++ {
			x.Insert(Fingerprint(fmt.Sprint("geonames:", i)), i)
		}
		x.Close()
	}
}
