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
	// The prover keeps every tile it reads, so each is read once per call.
	prover := tiles.NewProver(storageReader{w.store})
	bundles := map[uint64][][]byte{}
	out := make([][]byte, len(leaves))
	for i, leaf := range leaves {
		if leaf >= size {
			return nil, fmt.Errorf("leaf %d is not published (log size %d)", leaf, size)
		}
		bi := leaf / tiles.Width
		entries, ok := bundles[bi]
		if !ok {
			var err error
			if entries, err = readBundle(ctx, w.store, bi, size); err != nil {
				return nil, err
			}
			bundles[bi] = entries
		}
		proof, err := prover.InclusionProof(ctx, leaf, size)
		if err != nil {
			return nil, fmt.Errorf("couldn't build the inclusion proof of leaf %d: %w", leaf, err)
		}
		p := tiles.TLogProof{Extra: entries[leaf%tiles.Width], Index: leaf, Hashes: proof, Checkpoint: signed}
		out[i] = p.Marshal()
	}
	return out, nil
}
