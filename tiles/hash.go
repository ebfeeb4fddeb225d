package tiles

import (
	"crypto/sha256"
	"hash"
)

// Hash is one RFC 6962 tree hash.
type Hash = [HashSize]byte

// EmptyRoot is the root of the empty tree: SHA-256 of the empty string.
var EmptyRoot = Hash(sha256.Sum256(nil))

// HashLeaf returns the RFC 6962 leaf hash SHA-256(0x00 || entry).
func HashLeaf(entry []byte) Hash {
	var h Hasher
	return h.Leaf(entry)
}

// HashChildren returns the RFC 6962 interior hash SHA-256(0x01 || l || r).
func HashChildren(l, r Hash) Hash {
	var b [1 + 2*HashSize]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[1+HashSize:], r[:])
	return sha256.Sum256(b[:])
}

// hashChildrenSlices adapts HashChildren to merkle's slice-based callbacks.
func hashChildrenSlices(l, r []byte) []byte {
	h := HashChildren(Hash(l), Hash(r))
	return h[:]
}

// Hasher hashes leaves without allocating; the zero value is ready.
// It is not safe for concurrent use.
type Hasher struct {
	h   hash.Hash
	sum []byte // the prefix and the sum: local arrays would escape to the heap, once per leaf
}

// Leaf returns the RFC 6962 leaf hash of entry.
func (x *Hasher) Leaf(entry []byte) Hash {
	if x.h == nil {
		x.h = sha256.New()
	}
	x.h.Reset()
	x.sum = append(x.sum[:0], 0) // the leaf prefix
	x.h.Write(x.sum)
	x.h.Write(entry)
	x.sum = x.h.Sum(x.sum[:0])
	return Hash(x.sum)
}

// SubtreeRoot returns the NH-tree (RFC 6962 MTH) over consecutive hashes,
// whose count must be a power of two, as inside one tile.
func SubtreeRoot(hashes []Hash) Hash {
	if len(hashes) == 1 {
		return hashes[0]
	}
	half := len(hashes) / 2
	return HashChildren(SubtreeRoot(hashes[:half]), SubtreeRoot(hashes[half:]))
}
