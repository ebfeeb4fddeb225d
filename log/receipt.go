package log

import (
	"context"
	"fmt"

	"github.com/citylog/citylog/tiles"
)

// Receipt returns an offline receipt for a published leaf: a
// c2sp.org/tlog-proof whose extra data is the entry itself, proving it is
// in the latest published checkpoint. Anyone holding the log's verifier
// key can check it without a network (cityverify receipt).
//
// It may be called between Allocate calls, or from Import's report
// callback, where the latest checkpoint is the one covering the line.
func (w *Writer) Receipt(ctx context.Context, leaf uint64) ([]byte, error) {
	rs, err := w.Receipts(ctx, []uint64{leaf})
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// Receipts returns the receipts of several published leaves, reading each
// tile and bundle they need once.
func (w *Writer) Receipts(ctx context.Context, leaves []uint64) ([][]byte, error) {
	w.mu.Lock()
	size, signed := w.durable, w.published
	w.mu.Unlock()
	r := newStoredReceipts(w.store, size)
	out := make([][]byte, len(leaves))
	for i, leaf := range leaves {
		entry, proof, err := r.prove(ctx, leaf)
		if err != nil {
			return nil, err
		}
		out[i] = receipt(entry, leaf, proof, signed)
	}
	return out, nil
}

// BatchReceipts returns the receipts of a published batch's answers,
// proving each in the checkpoint that published the batch: the receipts
// Receipts gives right after Publish. The proofs of the batch's own
// entries come from the hashes the writer computed for them, all at once
// and without reading a tile or bundle; only an answer with an older entry
// (a resubmission) is proven from storage, here. Like Publish, it may run
// while the next batch is prepared.
func (w *Writer) BatchReceipts(ctx context.Context, b *Batch) (*Receipts, error) {
	bb := b.b
	if bb.signed == nil && bb.size > 0 {
		return nil, fmt.Errorf("the batch of size %d is not published yet", bb.size)
	}
	r := &Receipts{b: bb, results: b.results}
	if bb.stage.count > 0 {
		var err error
		if r.own, err = tiles.NewBatchProver(bb.stage.start, bb.prefix, bb.leaves); err != nil {
			return nil, err
		}
		// The checkpoint signs bb.root: proofs that lead elsewhere
		// would be receipts nobody can check.
		if r.own.Root() != bb.root {
			return nil, fmt.Errorf("the batch's hashes give root %x for size %d, but its checkpoint signs %x", r.own.Root(), bb.size, bb.root)
		}
	}
	var stored *storedReceipts // made on the first older entry
	for i, res := range b.results {
		if res.Err != nil || r.isOwn(res.Index) {
			continue
		}
		if stored == nil {
			stored = newStoredReceipts(w.store, bb.size)
			r.stored = make([][]byte, len(b.results))
		}
		entry, proof, err := stored.prove(ctx, res.Index)
		if err != nil {
			return nil, err
		}
		r.stored[i] = receipt(entry, res.Index, proof, bb.signed)
	}
	return r, nil
}

// Receipts are the receipts of a published batch's answers, from
// BatchReceipts. Append is safe for concurrent use, so that each of a
// server's handlers encodes its own answer's receipt.
type Receipts struct {
	b       *batch
	results []Result
	own     *tiles.BatchProver // the batch's new entries; nil if none
	stored  [][]byte           // by request: receipts of older entries
}

// isOwn reports whether leaf is one of the batch's new entries.
func (r *Receipts) isOwn(leaf uint64) bool {
	return r.own != nil && leaf >= r.b.stage.start && leaf < r.b.size
}

// Append appends the receipt of the answer to request i to dst; a
// refused request has none, and dst comes back as it was.
func (r *Receipts) Append(dst []byte, i int) []byte {
	res := r.results[i]
	switch {
	case res.Err != nil:
		return dst
	case !r.isOwn(res.Index):
		return append(dst, r.stored[i]...)
	}
	var hashes [tiles.MaxProofHashes]tiles.Hash
	proof, err := r.own.InclusionProof(hashes[:0], res.Index)
	if err != nil {
		panic(err) // unreachable: isOwn checked that the prover holds it
	}
	entry, _ := r.b.entry(res.Index)
	p := tiles.TLogProof{Extra: entry, Index: res.Index, Hashes: proof, Checkpoint: r.b.signed}
	return p.Append(dst)
}

// receipt encodes the receipt of entry at leaf.
func receipt(entry []byte, leaf uint64, proof []tiles.Hash, signed []byte) []byte {
	p := tiles.TLogProof{Extra: entry, Index: leaf, Hashes: proof, Checkpoint: signed}
	return p.Marshal()
}

// storedReceipts proves published leaves from the tiles and bundles in
// storage, reading each once.
type storedReceipts struct {
	store   Storage
	size    uint64
	prover  *tiles.Prover // keeps every tile it reads
	bundles map[uint64][][]byte
}

func newStoredReceipts(s Storage, size uint64) *storedReceipts {
	return &storedReceipts{store: s, size: size, prover: tiles.NewProver(storageReader{s}), bundles: map[uint64][][]byte{}}
}

// prove returns the entry at leaf and its inclusion proof in the tree of
// r.size leaves.
func (r *storedReceipts) prove(ctx context.Context, leaf uint64) ([]byte, []tiles.Hash, error) {
	if leaf >= r.size {
		return nil, nil, fmt.Errorf("leaf %d is not published (log size %d)", leaf, r.size)
	}
	bi := leaf / tiles.Width
	entries, ok := r.bundles[bi]
	if !ok {
		var err error
		if entries, err = readBundle(ctx, r.store, bi, r.size); err != nil {
			return nil, nil, err
		}
		r.bundles[bi] = entries
	}
	proof, err := r.prover.InclusionProof(ctx, leaf, r.size)
	if err != nil {
		return nil, nil, fmt.Errorf("couldn't build the inclusion proof of leaf %d: %w", leaf, err)
	}
	return entries[leaf%tiles.Width], proof, nil
}
