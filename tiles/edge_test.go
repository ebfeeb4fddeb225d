package tiles

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
)

// builtTree is a tree built in memory: its full tiles and its builder,
// which holds the edge tiles and the compact range.
type builtTree struct {
	b    *Builder
	full map[Tile][]byte
}

func buildTree(t *testing.T, n int) builtTree {
	t.Helper()
	tr := builtTree{full: map[Tile][]byte{}}
	var err error
	if tr.b, err = NewBuilder(0, nil, nil); err != nil {
		t.Fatal(err)
	}
	tr.b.Full = func(t Tile, data []byte) { tr.full[t] = data }
	for i := range n {
		if err := tr.b.Append(HashLeaf(fmt.Append(nil, i))); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// reader serves the tree's tiles and records which ones were read.
func (tr builtTree) reader(read *[]Tile) TileReader {
	return readerFunc(func(ts []Tile) ([][]byte, error) {
		out := make([][]byte, len(ts))
		for i, tile := range ts {
			*read = append(*read, tile)
			if d, ok := tr.full[Tile{tile.Level, tile.Index, Width}]; ok {
				out[i] = d[:tile.Width*HashSize]
			} else {
				out[i] = tr.b.EdgeTile(tile.Level)
			}
		}
		return out, nil
	})
}

func (tr builtTree) edge() []Hash {
	var hs []Hash
	for _, h := range tr.b.Range() {
		hs = append(hs, Hash(h))
	}
	return hs
}

// TestEdgeSavesEdgeTiles: a prover given a checkpoint's right edge builds
// the same inclusion proofs as one reading tiles only, without reading a
// single partial tile for a leaf outside the tree's last perfect subtrees.
func TestEdgeSavesEdgeTiles(t *testing.T) {
	const n = 70000 // 65536 + 4096 + 256 + 64 + 32 + 16
	tr := buildTree(t, n)
	ctx := context.Background()
	cp := Checkpoint{Origin: "o", Size: n, Root: tr.b.Root()}
	e := Edge{Checkpoint: []byte("signed"), Hashes: tr.edge()}
	if err := e.Check(cp); err != nil {
		t.Fatal(err)
	}
	for _, index := range []uint64{0, 1000, 65535, 65536, 69000, 69631, 69632, 69900, 69999} {
		var plainRead, edgeRead []Tile
		want, err := NewProver(tr.reader(&plainRead)).InclusionProof(ctx, index, n)
		if err != nil {
			t.Fatal(err)
		}
		p := NewProver(tr.reader(&edgeRead))
		if err := p.AddNodes(n, compact.RangeNodes(0, n, nil), e.Hashes); err != nil {
			t.Fatal(err)
		}
		got, err := p.InclusionProof(ctx, index, n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("leaf %d: proof with the edge differs from the proof from tiles", index)
		}
		leaf := HashLeaf(fmt.Append(nil, index))
		if err := VerifyInclusion(index, n, leaf[:], HashSlices(got), cp.Root[:]); err != nil {
			t.Errorf("leaf %d: %v", index, err)
		}
		if index < 65536 {
			for _, r := range edgeRead {
				if !r.Full() {
					t.Errorf("leaf %d: read partial tile %s although the edge holds its hashes", index, r.Path())
				}
			}
			if len(edgeRead) >= len(plainRead) {
				t.Errorf("leaf %d: %d tiles read with the edge, %d without", index, len(edgeRead), len(plainRead))
			}
		}
	}
}

func TestEdgeCheck(t *testing.T) {
	tr := buildTree(t, 1000) // 512 + 256 + 128 + 64 + 32 + 8
	cp := Checkpoint{Origin: "o", Size: 1000, Root: tr.b.Root()}
	good := tr.edge()
	flipped := slices.Clone(good)
	flipped[3][7] ^= 1
	for _, tc := range []struct {
		name   string
		cp     Checkpoint
		hashes []Hash
		want   string
	}{
		{"good", cp, good, ""},
		{"empty tree", Checkpoint{Origin: "o", Root: EmptyRoot}, nil, ""},
		{"flipped hash", cp, flipped, "do not fold"},
		{"one hash short", cp, good[1:], "has 5 hashes, a tree of size 1000 has 6"},
		{"one hash more", cp, append(slices.Clone(good), good[0]), "has 7 hashes"},
		{"swapped", cp, append([]Hash{good[1], good[0]}, good[2:]...), "do not fold"},
		{"other size", Checkpoint{Origin: "o", Size: 1001, Root: cp.Root}, good, "has 6 hashes, a tree of size 1001 has 7"},
		{"hashes for the empty tree", Checkpoint{Origin: "o", Root: EmptyRoot}, good[:1], "size 0 has 0"},
	} {
		err := Edge{Hashes: tc.hashes}.Check(tc.cp)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestEdgeRoundTrip(t *testing.T) {
	signed, err := os.ReadFile(vectors + "/tessera-log/checkpoint.15")
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := ParseCheckpoint(signed[:bytes.Index(signed, []byte("\n\n"))+1])
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := CompactRange(context.Background(), tesseraReader{}, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	e := Edge{Checkpoint: signed, Hashes: hashes}
	if err := e.Check(cp); err != nil {
		t.Fatalf("the tessera vector's compact range: %v", err)
	}
	b := e.Marshal()
	if !bytes.HasPrefix(b, []byte("citylog.org/checkpoint-edge/v1\n")) || !bytes.HasSuffix(b, append([]byte("\n\n"), signed...)) {
		t.Fatalf("edge file:\n%s", b)
	}
	got, err := ParseEdge(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Checkpoint, signed) || !slices.Equal(got.Hashes, hashes) {
		t.Fatal("edge does not survive Marshal and ParseEdge")
	}
	if int64(len(b)) > MaxEdgeSize(int64(len(signed))) {
		t.Errorf("edge of %d bytes is over its own limit", len(b))
	}
}

func TestParseEdgeErrors(t *testing.T) {
	const h = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	const head = "citylog.org/checkpoint-edge/v1\n"
	for _, tc := range []struct{ in, want string }{
		{"", "does not start with"},
		{"citylog.org/checkpoint-edge/v2\n\nx", "does not start with"},
		{head, "ends before the empty line"},
		{head + h + "\n", "ends before the empty line"},
		{head + h + "\n\n", "holds no checkpoint"},
		{head + h[:43] + "\n\nx", "hash 1"},
		{head + h + "=\n\nx", "hash 1"},
		{head + h + "\n" + h[:42] + "V=\n\nx", "hash 2"}, // non-zero padding bits
		{head + h + " \n\nx", "hash 1"},
		{head + strings.Repeat(h+"\n", 65) + "\nx", "more than 64 hashes"},
	} {
		if _, err := ParseEdge([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseEdge(%.80q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	if e, err := ParseEdge([]byte(head + "\nsigned")); err != nil || len(e.Hashes) != 0 || string(e.Checkpoint) != "signed" {
		t.Errorf("edge of the empty tree: %v, %v", e, err)
	}
}

func FuzzParseEdge(f *testing.F) {
	f.Add([]byte("citylog.org/checkpoint-edge/v1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\no\n1\nx\n\n— o sig\n"))
	f.Add([]byte("citylog.org/checkpoint-edge/v1\n\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEdge(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.Marshal(), b) {
			t.Fatalf("ParseEdge(%q) re-encodes as %q", b, e.Marshal())
		}
	})
}
