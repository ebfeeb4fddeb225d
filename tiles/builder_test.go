package tiles

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// TestBuilderMatchesProofs builds 70,000 leaves, checks every completed
// tile against NodeHashes' view of the same tree, and continues a builder
// from a midpoint to the same root.
func TestBuilderMatchesProofs(t *testing.T) {
	const n = 70000
	full := map[Tile][]byte{}
	b, err := NewBuilder(0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Full = func(t Tile, data []byte) { full[t] = data }
	var mid *Builder
	for i := 0; i < n; i++ {
		if i == 40000 {
			if mid, err = NewBuilder(b.Size(), b.Range(), b.Edge()); err != nil {
				t.Fatal(err)
			}
		}
		leaf := HashLeaf([]byte(fmt.Sprint(i)))
		b.Append(leaf)
		if mid != nil {
			mid.Append(leaf)
		}
	}
	if mid.Root() != b.Root() {
		t.Fatal("continued builder differs")
	}
	if len(full) != 273+1 { // 273 level-0 tiles, 1 level-1 tile
		t.Fatalf("%d full tiles", len(full))
	}
	// A reader over the built tiles gives the same root.
	r := readerFunc(func(ts []Tile) ([][]byte, error) {
		out := make([][]byte, len(ts))
		for i, tile := range ts {
			if d, ok := full[Tile{tile.Level, tile.Index, Width}]; ok {
				out[i] = d[:tile.Width*HashSize]
			} else {
				out[i] = b.EdgeTile(tile.Level)
			}
		}
		return out, nil
	})
	root, err := RootHash(context.Background(), r, n)
	if err != nil || root != b.Root() {
		t.Fatalf("RootHash over built tiles = %x, %v; builder %x", root, err, b.Root())
	}
	if !bytes.Equal(b.EdgeTile(0), b.Edge()[0]) || len(b.EdgeTile(0)) != (n%Width)*HashSize {
		t.Error("edge tile of level 0")
	}
	if b0, _ := NewBuilder(0, nil, nil); b0.Root() != EmptyRoot {
		t.Error("empty root")
	}
}

// TestBuilderAppendAll: appending leaves in runs of any length gives the
// full tiles, edge tiles, compact range and root that appending them one
// by one gives.
func TestBuilderAppendAll(t *testing.T) {
	const n = 5000
	leaves := make([]Hash, n)
	for i := range leaves {
		leaves[i] = HashLeaf([]byte(fmt.Sprint("leaf ", i)))
	}
	type built struct {
		full map[Tile]string
		b    *Builder
	}
	build := func(runs []int) built {
		out := built{full: map[Tile]string{}}
		out.b, _ = NewBuilder(0, nil, nil)
		out.b.Full = func(t Tile, data []byte) { out.full[t] = string(data) }
		for i, k := 0, 0; i < n; k++ {
			end := min(n, i+runs[k%len(runs)])
			if len(runs) == 1 && runs[0] == 1 {
				if err := out.b.Append(leaves[i]); err != nil {
					t.Fatal(err)
				}
			} else if err := out.b.AppendAll(leaves[i:end]); err != nil {
				t.Fatal(err)
			}
			i = end
		}
		return out
	}
	one := build([]int{1})
	for _, runs := range [][]int{{n}, {255, 1, 256, 257, 3}, {1000}, {7}} {
		got := build(runs)
		if got.b.Root() != one.b.Root() || got.b.Size() != n {
			t.Fatalf("runs %v: root %x size %d, one by one %x", runs, got.b.Root(), got.b.Size(), one.b.Root())
		}
		if fmt.Sprint(got.full) != fmt.Sprint(one.full) {
			t.Fatalf("runs %v: full tiles differ", runs)
		}
		if fmt.Sprint(got.b.Edge()) != fmt.Sprint(one.b.Edge()) || fmt.Sprint(got.b.Range()) != fmt.Sprint(one.b.Range()) {
			t.Fatalf("runs %v: edge tiles or compact range differ", runs)
		}
	}
}

// BenchmarkBuilderAppendAll: the tree work of the writer's sequencer, per
// batch of 16,384 leaves (tiles handed to Full included).
func BenchmarkBuilderAppendAll(b *testing.B) {
	leaves := make([]Hash, 1<<14)
	for i := range leaves {
		leaves[i] = HashLeaf([]byte(fmt.Sprint(i)))
	}
	bl, _ := NewBuilder(0, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := bl.AppendAll(leaves); err != nil {
			b.Fatal(err)
		}
	}
}
