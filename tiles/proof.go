package tiles

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TileReader returns the bytes of hash tiles. Implementations read a
// directory, HTTP or object storage; they need not check anything, because
// every hash built from tiles is checked against a signed root by whoever
// relies on it. Tiles are asked for together so a reader can fetch them in
// parallel.
type TileReader interface {
	ReadTiles(ctx context.Context, tiles []Tile) ([][]byte, error)
}

// NodeHashes returns the hashes of perfect subtree nodes of a tree with
// size leaves, reading each needed tile once.
func NodeHashes(ctx context.Context, r TileReader, size uint64, ids []compact.NodeID) ([]Hash, error) {
	return NewProver(r).NodeHashes(ctx, size, ids)
}

// Prover builds many proofs from one tile reader, remembering the node
// hashes it computed: proofs for neighbouring leaves share most nodes, and
// a node high inside a tile costs up to 255 hashes to recompute. It is not
// safe for concurrent use.
type Prover struct {
	r     TileReader
	memo  map[nodeSpan]Hash
	tiles map[Tile][]Hash // tiles read and checked so far
}

type nodeSpan struct {
	tile       Tile
	start, end int
}

// NewProver returns a Prover reading tiles from r.
func NewProver(r TileReader) *Prover {
	return &Prover{r: r, memo: map[nodeSpan]Hash{}, tiles: map[Tile][]Hash{}}
}

// AddNodes gives the prover node hashes of the tree of size leaves that
// the caller already holds and has checked, such as a checkpoint's right
// edge (see Edge): proofs that need them read no tile for them.
func (p *Prover) AddNodes(size uint64, ids []compact.NodeID, hashes []Hash) error {
	if len(ids) != len(hashes) {
		return fmt.Errorf("%d node hashes for %d nodes", len(hashes), len(ids))
	}
	for i, id := range ids {
		t, start, end, err := TileForNode(id.Level, id.Index, size)
		if err != nil {
			return err
		}
		p.memo[nodeSpan{t, start, end}] = hashes[i]
	}
	return nil
}

// InclusionProof builds the proof that leaf index is in the tree of size.
func (p *Prover) InclusionProof(ctx context.Context, index, size uint64) ([]Hash, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return p.rehash(ctx, size, nodes)
}

// NodeHashes returns the hashes of perfect subtree nodes of a tree with
// size leaves.
func (p *Prover) NodeHashes(ctx context.Context, size uint64, ids []compact.NodeID) ([]Hash, error) {
	type span struct {
		tile       int
		start, end int
	}
	var need []Tile
	seen := map[Tile]int{}
	spans := make([]span, len(ids))
	for i, id := range ids {
		t, start, end, err := TileForNode(id.Level, id.Index, size)
		if err != nil {
			return nil, err
		}
		k, ok := seen[t]
		if !ok {
			k = len(need)
			seen[t] = k
			need = append(need, t)
		}
		spans[i] = span{k, start, end}
	}
	if len(need) == 0 {
		return nil, nil
	}
	out := make([]Hash, len(ids))
	var missing []Tile // tiles needed for nodes not computed yet, not read yet
	for _, s := range spans {
		t := need[s.tile]
		if _, ok := p.memo[nodeSpan{t, s.start, s.end}]; ok {
			continue
		}
		if _, ok := p.tiles[t]; !ok && !slices.Contains(missing, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		data, err := p.r.ReadTiles(ctx, missing)
		if err != nil {
			return nil, err
		}
		if len(data) != len(missing) {
			return nil, fmt.Errorf("tile reader returned %d tiles for %d asked", len(data), len(missing))
		}
		for k, t := range missing {
			if err := CheckHashTile(data[k], t.Width); err != nil {
				return nil, fmt.Errorf("%s: %w", t.Path(), err)
			}
			p.tiles[t] = DecodeHashes(data[k])
		}
	}
	for i, s := range spans {
		key := nodeSpan{need[s.tile], s.start, s.end}
		h, ok := p.memo[key]
		if !ok {
			h = SubtreeRoot(p.tiles[need[s.tile]][s.start:s.end])
			p.memo[key] = h
		}
		out[i] = h
	}
	return out, nil
}

// DecodeHashes splits a checked hash tile into its hashes.
func DecodeHashes(data []byte) []Hash {
	out := make([]Hash, len(data)/HashSize)
	for i := range out {
		copy(out[i][:], data[i*HashSize:])
	}
	return out
}

// RootHash computes the root of a tree with size leaves from its tiles.
func RootHash(ctx context.Context, r TileReader, size uint64) (Hash, error) {
	if size == 0 {
		return EmptyRoot, nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := NodeHashes(ctx, r, size, ids)
	if err != nil {
		return Hash{}, err
	}
	return FoldRight(hashes), nil
}

// FoldRight folds the perfect subtrees of a compact range [0, size), left
// to right, into the tree's root.
func FoldRight(hashes []Hash) Hash {
	root := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		root = HashChildren(hashes[i], root)
	}
	return root
}

// CompactRange returns the hashes of the compact range [0, size), which is
// what a writer needs to continue appending to the tree.
func CompactRange(ctx context.Context, r TileReader, size uint64) ([]Hash, error) {
	return NodeHashes(ctx, r, size, compact.RangeNodes(0, size, nil))
}

// InclusionProof builds the proof that leaf index is in the tree of size.
func InclusionProof(ctx context.Context, r TileReader, index, size uint64) ([]Hash, error) {
	return NewProver(r).InclusionProof(ctx, index, size)
}

// ConsistencyProof builds the proof that the tree of size1 is a prefix of
// the tree of size2. It is empty when size1 is 0 or equals size2.
func ConsistencyProof(ctx context.Context, r TileReader, size1, size2 uint64) ([]Hash, error) {
	return NewProver(r).ConsistencyProof(ctx, size1, size2)
}

// ConsistencyProof builds the proof that the tree of size1 is a prefix of
// the tree of size2. It is empty when size1 is 0 or equals size2.
func (p *Prover) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([]Hash, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("consistency proof from size %d to smaller size %d", size1, size2)
	}
	if size1 == 0 || size1 == size2 {
		return nil, nil
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return p.rehash(ctx, size2, nodes)
}

func (p *Prover) rehash(ctx context.Context, size uint64, nodes proof.Nodes) ([]Hash, error) {
	hashes, err := p.NodeHashes(ctx, size, nodes.IDs)
	if err != nil {
		return nil, err
	}
	slices := make([][]byte, len(hashes))
	for i := range hashes {
		slices[i] = hashes[i][:]
	}
	slices, err = nodes.Rehash(slices, hashChildrenSlices)
	if err != nil {
		return nil, err
	}
	out := make([]Hash, len(slices))
	for i, s := range slices {
		out[i] = Hash(s)
	}
	return out, nil
}

// ErrProof is wrapped by every proof verification failure.
var ErrProof = errors.New("proof does not verify")

// VerifyInclusion checks that leafHash is leaf index of the tree (size, root).
func VerifyInclusion(index, size uint64, leafHash []byte, p [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, p, root); err != nil {
		return fmt.Errorf("%w: inclusion of leaf %d in tree size %d: %v", ErrProof, index, size, err)
	}
	return nil
}

// VerifyConsistency checks that tree (size1, root1) is a prefix of tree
// (size2, root2). Unlike merkle v0.0.2 it handles size1 = 0 itself: the
// proof must then be empty and root1 the empty root (TLOG-FORMATS §6).
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	fail := func(why string) error {
		return fmt.Errorf("%w: consistency from size %d to %d: %s", ErrProof, size1, size2, why)
	}
	if size1 == 0 {
		switch {
		case len(p) != 0:
			return fail("a proof from the empty tree must be empty")
		case string(root1) != string(EmptyRoot[:]):
			return fail("root of the empty tree is not SHA-256 of the empty string")
		case len(root2) != HashSize:
			return fail("second root is not 32 bytes")
		case size2 == 0 && string(root2) != string(EmptyRoot[:]):
			return fail("root of the empty tree is not SHA-256 of the empty string")
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1, root2); err != nil {
		return fail(err.Error())
	}
	return nil
}
