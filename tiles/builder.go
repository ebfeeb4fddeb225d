package tiles

import (
	"fmt"

	"github.com/transparency-dev/merkle/compact"
)

// Builder computes a tree's hash tiles from its leaf hashes: the writer
// uses it to produce tiles as it appends, an auditor to recompute them
// from the entries. Each hash tile is handed to Full once complete; the
// incomplete tile of every level is kept, for the tree's edge.
type Builder struct {
	rng  *compact.Range
	edge [][]byte // per level: the incomplete tile's hashes
	// Full, if set, receives every hash tile completed by Append. The
	// builder does not touch data afterwards.
	Full func(t Tile, data []byte)
	// nodes is where the hashes of new interior nodes are carved from:
	// a tree of n leaves has n-1 of them, and allocating each on its own
	// was a heap allocation per leaf.
	nodes []byte
}

// nodeArena is how many bytes of node hashes are allocated at once. The
// compact range keeps at most 64 hashes, each pinning its arena: small
// arenas keep that small.
const nodeArena = 128 * HashSize

// NewBuilder continues a tree of size leaves from its compact range
// (perfect subtree hashes, left to right) and the hashes of its incomplete
// tiles (edge[l] for level l; nil entries or a short slice are empty).
func NewBuilder(size uint64, rangeHashes [][]byte, edge [][]byte) (*Builder, error) {
	// Copied: compact.Range appends in place, and the caller's slices may
	// belong to another builder.
	hashes := make([][]byte, len(rangeHashes))
	for i, h := range rangeHashes {
		hashes[i] = append([]byte(nil), h...)
	}
	b := &Builder{}
	rng, err := (&compact.RangeFactory{Hash: b.hashChildren}).NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("compact range for size %d: %w", size, err)
	}
	b.rng = rng
	for l, e := range edge {
		b.level(l)
		b.edge[l] = append([]byte(nil), e...)
	}
	return b, nil
}

// Append adds the next leaf hash.
func (b *Builder) Append(leaf Hash) error { return b.rng.Append(leaf[:], b.visit) }

// AppendAll adds the next leaf hashes, in order. The builder may keep
// slices of leaves, so the caller must not change them afterwards; in
// return no hash is copied to the heap on its own, as Append must.
func (b *Builder) AppendAll(leaves []Hash) error {
	for i := range leaves {
		if err := b.rng.Append(leaves[i][:], b.visit); err != nil {
			return err
		}
	}
	return nil
}

// hashChildren is HashChildren for the compact range, its result carved
// from the builder's node arena.
func (b *Builder) hashChildren(l, r []byte) []byte {
	if len(b.nodes) < HashSize {
		b.nodes = make([]byte, nodeArena)
	}
	h := HashChildren(Hash(l), Hash(r))
	out := b.nodes[:HashSize:HashSize]
	copy(out, h[:])
	b.nodes = b.nodes[HashSize:]
	return out
}

// visit files each node on a tile level into that level's incomplete tile.
func (b *Builder) visit(id compact.NodeID, hash []byte) {
	if id.Level%Height != 0 {
		return
	}
	l := int(id.Level / Height)
	b.level(l)
	if b.edge[l] == nil {
		b.edge[l] = make([]byte, 0, Width*HashSize) // each full tile is allocated once, at its size
	}
	b.edge[l] = append(b.edge[l], hash...)
	if len(b.edge[l]) == Width*HashSize {
		if b.Full != nil {
			b.Full(Tile{Level: l, Index: id.Index / Width, Width: Width}, b.edge[l])
		}
		b.edge[l] = nil
	}
}

func (b *Builder) level(l int) {
	for len(b.edge) <= l {
		b.edge = append(b.edge, nil)
	}
}

// Size returns the number of leaves.
func (b *Builder) Size() uint64 { return b.rng.End() }

// Root returns the tree's root hash.
func (b *Builder) Root() Hash {
	if b.rng.End() == 0 {
		return EmptyRoot
	}
	r, err := b.rng.GetRootHash(nil)
	if err != nil {
		panic(err) // unreachable: the range starts at 0
	}
	return Hash(r)
}

// Range returns the compact range, to continue the tree later; it aliases
// the builder's state until the next Append.
func (b *Builder) Range() [][]byte { return b.rng.Hashes() }

// Edge returns the hashes of each level's incomplete tile; the result
// aliases the builder's state until the next Append.
func (b *Builder) Edge() [][]byte { return b.edge }

// EdgeTile returns the incomplete tile at level l (nil if empty).
func (b *Builder) EdgeTile(l int) []byte {
	if l >= len(b.edge) {
		return nil
	}
	return b.edge[l]
}
