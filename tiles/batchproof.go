package tiles

import (
	"fmt"
	"math/bits"
)

// BatchProver proves the inclusion of each of the last leaves of a tree,
// a batch a writer has just appended, from what the writer holds: the
// compact range of the tree before the batch and the batch's leaf hashes.
// It reads no tile, and each node is hashed once for the whole batch,
// where a Prover rehashes the nodes right of the tile edge for every
// proof; a proof then costs what copying its hashes costs.
//
// The tree is built bottom up, the last node of a level of odd width
// going up unpaired. That is the RFC 6962 tree (MTH splits at the largest
// power of two below the size, which pairing from the left does too), and
// a leaf's inclusion path is the sibling of its node on each level where
// that sibling exists.
type BatchProver struct {
	start, size uint64
	// levels[l] holds the nodes of level l from index first[l] to the
	// level's last: the batch's, and the one left of them that pairs
	// with the first (from the compact range).
	levels [][]Hash
	first  []uint64
	root   Hash
}

// NewBatchProver returns the prover of leaves [start, start+len(leaves))
// of the tree of start+len(leaves) leaves. prefix is the compact range
// [0, start), largest subtree first, as CompactRange and Builder.Range
// give it.
func NewBatchProver(start uint64, prefix []Hash, leaves []Hash) (*BatchProver, error) {
	if len(leaves) == 0 {
		return nil, fmt.Errorf("batch prover of no leaves")
	}
	if want := bits.OnesCount64(start); len(prefix) != want {
		return nil, fmt.Errorf("compact range of size %d has %d hashes, not %d", start, len(prefix), want)
	}
	size := start + uint64(len(leaves))
	if size < start {
		return nil, fmt.Errorf("batch of %d leaves after %d overflows", len(leaves), start)
	}
	// rangeNode is the compact range's node on level l, which exists
	// when bit l of start is set; the larger subtrees come first.
	rangeNode := func(l int) Hash { return prefix[bits.OnesCount64(start>>(l+1))] }
	p := &BatchProver{start: start, size: size}
	// Every level holds about half the nodes of the one below it: one
	// arena serves them all.
	arena := make([]Hash, 0, 2*len(leaves)+2*bits.Len64(size))
	first := start
	if first%2 == 1 {
		arena = append(arena, rangeNode(0))
		first--
	}
	arena = append(arena, leaves...)
	cur := arena
	for l := 0; first+uint64(len(cur)) > 1; l++ { // up to the level of width 1, the root
		p.levels = append(p.levels, cur)
		p.first = append(p.first, first)
		first /= 2 // first was even: the first pair's parent
		next := cur[len(cur):]
		if first%2 == 1 {
			next = append(next, rangeNode(l+1))
			first--
		}
		for k := 0; k < len(cur); k += 2 {
			if k+1 < len(cur) {
				next = append(next, HashChildren(cur[k], cur[k+1]))
			} else {
				next = append(next, cur[k]) // the level's last node, unpaired
			}
		}
		cur = next
	}
	p.root = cur[0]
	return p, nil
}

// Root returns the root of the tree, to check against the checkpoint the
// proofs are to lead to.
func (p *BatchProver) Root() Hash { return p.root }

// InclusionProof appends to dst the inclusion proof of leaf index, which
// must be one of the batch's.
func (p *BatchProver) InclusionProof(dst []Hash, index uint64) ([]Hash, error) {
	if index < p.start || index >= p.size {
		return nil, fmt.Errorf("leaf %d is not in the batch of leaves %d to %d", index, p.start, p.size-1)
	}
	for l, nodes := range p.levels {
		sibling := index>>l ^ 1
		if width := (p.size-1)>>l + 1; sibling < width {
			dst = append(dst, nodes[sibling-p.first[l]])
		}
	}
	return dst, nil
}
