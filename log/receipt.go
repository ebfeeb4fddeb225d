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
	w.mu.Lock()
	size, signed := w.durable, w.published
	w.mu.Unlock()
	if leaf >= size {
		return nil, fmt.Errorf("leaf %d is not published (log size %d)", leaf, size)
	}
	bt := tiles.Tile{Level: tiles.EntriesLevel, Index: leaf / tiles.Width, Width: tiles.TileWidth(tiles.EntriesLevel, leaf/tiles.Width, size)}
	data, err := w.store.ReadFile(ctx, bt.Path())
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", bt.Path(), err)
	}
	entries, err := tiles.ParseBundle(data, bt.Width)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bt.Path(), err)
	}
	proof, err := tiles.InclusionProof(ctx, storageReader{w.store}, leaf, size)
	if err != nil {
		return nil, fmt.Errorf("couldn't build the inclusion proof of leaf %d: %w", leaf, err)
	}
	p := tiles.TLogProof{Extra: entries[leaf%tiles.Width], Index: leaf, Hashes: proof, Checkpoint: signed}
	return p.Marshal(), nil
}
