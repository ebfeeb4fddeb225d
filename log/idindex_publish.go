package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
)

// PublishIDIndex brings the public identifier index (package idshard) up
// to the published log size, so that cityverify find can locate a code
// by identifier. Only shards that gained lines are rewritten; when the
// log has grown enough to need more shards, all are rebuilt. The index is
// a hint, never trusted by verifiers, so it is published after the
// checkpoint and may lag it. Call it when no Allocate or Import runs.
func (w *Writer) PublishIDIndex(ctx context.Context) error {
	w.mu.Lock()
	size, pending, pendingFrom := w.durable, w.pendingIDs, w.pendingFrom
	w.mu.Unlock()
	meta := idshard.Meta{}
	if b, err := w.store.ReadFile(ctx, idshard.MetaPath); err == nil {
		if meta, err = idshard.ParseMeta(b); err != nil {
			meta = idshard.Meta{} // damaged: rebuild
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("couldn't read %s: %w", idshard.MetaPath, err)
	}
	if meta.Size == size && meta.Bits != 0 {
		return nil
	}
	bits := idshard.BitsFor(w.idx.Len())
	full := meta.Bits != bits || meta.Size > size
	from := meta.Size
	if full {
		from = 0
	}
	lines := pending
	if from < pendingFrom {
		older, err := w.readIDs(ctx, from, pendingFrom)
		if err != nil {
			return err
		}
		lines = append(older, pending...)
	}
	shards := map[string][]idshard.Line{}
	for _, l := range lines {
		s := idshard.Shard(l.ID, bits)
		shards[s] = append(shards[s], l)
	}
	if full {
		for i := 0; i < 1<<bits; i++ { // write empty shards too: no stale file survives
			s := fmt.Sprintf("%s%0*x", idshard.Dir, (bits+3)/4, i)
			if _, ok := shards[s]; !ok {
				shards[s] = nil
			}
		}
	}
	for path, add := range shards {
		if !full {
			old, err := w.store.ReadFile(ctx, path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("couldn't read %s: %w", path, err)
			}
			if prev, err := idshard.Parse(old); err == nil {
				add = append(prev, add...)
			}
		}
		if err := w.store.PutFile(ctx, path, idshard.Marshal(add)); err != nil {
			return fmt.Errorf("couldn't write %s: %w", path, err)
		}
	}
	if err := w.store.Sync(ctx); err != nil {
		return err
	}
	if err := w.store.ReplaceFile(ctx, idshard.MetaPath, idshard.Meta{Size: size, Bits: bits}.Marshal()); err != nil {
		return err
	}
	w.mu.Lock()
	w.pendingIDs, w.pendingFrom = w.pendingIDs[len(pending):], size
	w.mu.Unlock()
	return nil
}

// readIDs reads the identifiers of leaves [from, to) from the bundles.
func (w *Writer) readIDs(ctx context.Context, from, to uint64) ([]idshard.Line, error) {
	var out []idshard.Line
	for bi := from / tiles.Width; bi*tiles.Width < to; bi++ {
		bt := tiles.Tile{Level: tiles.EntriesLevel, Index: bi, Width: tiles.TileWidth(tiles.EntriesLevel, bi, to)}
		data, err := w.store.ReadFile(ctx, bt.Path())
		if err != nil {
			return nil, fmt.Errorf("couldn't read %s: %w", bt.Path(), err)
		}
		entries, err := tiles.ParseBundle(data, bt.Width)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", bt.Path(), err)
		}
		for i, raw := range entries {
			leaf := bi*tiles.Width + uint64(i)
			if leaf < from {
				continue
			}
			e, err := w.rules.Decode(raw)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", leaf, err)
			}
			for _, id := range e.IDs {
				out = append(out, idshard.Line{ID: id, Leaf: leaf})
			}
		}
	}
	return out, nil
}
