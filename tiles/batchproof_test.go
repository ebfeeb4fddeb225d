package tiles

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// prefixTree is a tree of many leaves whose tiles serve as the tiles of
// any smaller tree: the tiles of a tree are prefixes of those of every
// larger one.
type prefixTree struct {
	leaves []Hash
	full   map[Tile][]byte
	b      *Builder
}

func newPrefixTree(t testing.TB, n int) *prefixTree {
	p := &prefixTree{full: map[Tile][]byte{}}
	var err error
	if p.b, err = NewBuilder(0, nil, nil); err != nil {
		t.Fatal(err)
	}
	p.b.Full = func(t Tile, data []byte) { p.full[t] = data }
	for i := range n {
		leaf := HashLeaf(fmt.Append(nil, "leaf ", i))
		p.leaves = append(p.leaves, leaf)
		if err := p.b.Append(leaf); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *prefixTree) ReadTiles(_ context.Context, ts []Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, tile := range ts {
		data, ok := p.full[Tile{tile.Level, tile.Index, Width}]
		if !ok {
			data = p.b.EdgeTile(tile.Level)
		}
		if len(data) < tile.Width*HashSize {
			return nil, fmt.Errorf("no tile %s", tile.Path())
		}
		out[i] = data[:tile.Width*HashSize]
	}
	return out, nil
}

// checkBatch checks every proof of the batch [start, size) against the
// Prover's over the tiles, and the root against RootHash.
func (p *prefixTree) checkBatch(t *testing.T, start, size uint64) {
	t.Helper()
	ctx := context.Background()
	prefix, err := CompactRange(ctx, p, start)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := NewBatchProver(start, prefix, p.leaves[start:size])
	if err != nil {
		t.Fatalf("batch [%d, %d): %v", start, size, err)
	}
	if root, err := RootHash(ctx, p, size); err != nil || bp.Root() != root {
		t.Fatalf("batch [%d, %d): root %x, RootHash %x, %v", start, size, bp.Root(), root, err)
	}
	prover := NewProver(p)
	var got []Hash
	for leaf := start; leaf < size; leaf++ {
		if got, err = bp.InclusionProof(got[:0], leaf); err != nil {
			t.Fatalf("batch [%d, %d): leaf %d: %v", start, size, leaf, err)
		}
		want, err := prover.InclusionProof(ctx, leaf, size)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("batch [%d, %d): proof of leaf %d has %d hashes, differs from the Prover's %d", start, size, leaf, len(got), len(want))
		}
		if err := VerifyInclusion(leaf, size, p.leaves[leaf][:], HashSlices(got), root(bp)); err != nil {
			t.Fatal(err)
		}
	}
}

func root(bp *BatchProver) []byte { r := bp.Root(); return r[:] }

// TestBatchProver: the proofs of every leaf of a batch are the Prover's,
// for every batch of every tree up to 300 leaves (crossing the first
// level-0 tile boundary), and for batches around the first level-1 tile
// boundary (65,536 leaves) and level-0 ones beyond it.
func TestBatchProver(t *testing.T) {
	p := newPrefixTree(t, 70_000)
	for size := uint64(1); size <= 300; size++ {
		for start := range size {
			// Every batch of the small trees; in the larger ones, those
			// of up to 8 leaves, the first and last halves, and those
			// of about a tile.
			n := size - start
			if size <= 64 || n <= 8 || start <= 1 || start == size/2 || n+1 >= Width && n <= Width+1 {
				p.checkBatch(t, start, size)
			}
		}
	}
	for _, size := range []uint64{511, 512, 513, 65535, 65536, 65537, 65536 + 255, 65536 + 256, 65536 + 257, 69_999} {
		for _, n := range []uint64{1, 2, 3, 255, 256, 257, 1000, 4097} {
			if n <= size {
				p.checkBatch(t, size-n, size)
			}
		}
	}
	if testing.Short() {
		return
	}
	// Every batch ending at or just past a tile boundary, and the whole tree.
	for size := uint64(Width); size < 70_000; size += Width {
		p.checkBatch(t, size-Width/2, size+1)
	}
	p.checkBatch(t, 0, 70_000)
}

// TestBatchProverRefuses: wrong inputs are refused, not proven.
func TestBatchProverRefuses(t *testing.T) {
	leaf := HashLeaf([]byte("x"))
	if _, err := NewBatchProver(3, []Hash{leaf}, []Hash{leaf}); err == nil {
		t.Error("a compact range of 1 hash accepted for size 3")
	}
	if _, err := NewBatchProver(0, nil, nil); err == nil {
		t.Error("an empty batch accepted")
	}
	bp, err := NewBatchProver(2, []Hash{leaf}, []Hash{leaf, leaf})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{1, 4} {
		if _, err := bp.InclusionProof(nil, i); err == nil {
			t.Errorf("proof of leaf %d, outside the batch [2, 4), given", i)
		}
	}
}

// BenchmarkBatchProver measures the proofs of a 512-leaf batch after
// 100,000 leaves, as a server answering one batch builds them.
func BenchmarkBatchProver(b *testing.B) {
	p := newPrefixTree(b, 100_512)
	prefix, err := CompactRange(context.Background(), p, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	var proof []Hash
	for b.Loop() {
		bp, err := NewBatchProver(100_000, prefix, p.leaves[100_000:])
		if err != nil {
			b.Fatal(err)
		}
		for leaf := uint64(100_000); leaf < 100_512; leaf++ {
			proof, _ = bp.InclusionProof(proof[:0], leaf)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*512), "ns/proof")
}
