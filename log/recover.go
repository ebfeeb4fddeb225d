package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/citylog/citylog/log/idindex"
	"github.com/citylog/citylog/tiles"
)

// recoverStaged finishes the last staged batch if the checkpoint does not
// cover it yet: the batch may have been cut off after some of its files
// were written, so it is applied again from the very same entries.
func (w *Writer) recoverStaged(ctx context.Context) error {
	size := w.tree.size
	s, err := w.stager.readStaged(size)
	if err != nil || s == nil {
		return err
	}
	b := &batch{stage: *s}
	off := 0
	if _, err := s.each(func(e []byte) error {
		b.offsets = append(b.offsets, off)
		off += 2 + len(e)
		ent, err := w.rules.Decode(e)
		if err != nil {
			return err
		}
		if ent.Code.Index != w.tree.size {
			return fmt.Errorf("staged entry %s is not at index %d", ent.Code, w.tree.size)
		}
		return w.tree.append(e)
	}); err != nil {
		return corrupt(fmt.Errorf("couldn't recover staged batch: %w", err))
	}
	if err := w.sign(b); err != nil {
		return err
	}
	if err := w.publish(ctx, b); err != nil {
		return fmt.Errorf("couldn't recover staged batch: %w", err)
	}
	w.mu.Lock()
	w.durable, w.published = w.tree.size, b.checkpoint
	w.mu.Unlock()
	return nil
}

// repairEdge rewrites the edge file unless it holds exactly the published
// checkpoint: a log from before edge files, or a crash that cut the edge
// short or left it a batch behind, gets the right one before any new
// batch. edgeFile is the file as load read it (nil: there is none).
func (w *Writer) repairEdge(ctx context.Context, edgeFile []byte) error {
	edge := w.tree.rightEdge()
	if edgeFile != nil {
		if e, err := tiles.ParseEdge(edgeFile); err == nil && bytes.Equal(e.Checkpoint, w.published) && slices.Equal(e.Hashes, edge) {
			return nil
		}
	}
	return publishCheckpoint(ctx, w.store, w.published, edge)
}

// openIndex opens the dedup index, or rebuilds it from the log if it is
// missing, unclean or covers another size.
func (w *Writer) openIndex(ctx context.Context) error {
	path := filepath.Join(w.state, indexFile)
	idx, err := idindex.OpenStack(path, w.durable)
	if err == nil {
		w.idx = idx
		return nil
	}
	if !errors.Is(err, idindex.ErrStale) {
		return err
	}
	if w.idx, err = idindex.CreateStack(path); err != nil {
		return err
	}
	if err := w.rebuildIndex(ctx); err != nil {
		w.idx.Close()
		return fmt.Errorf("couldn't rebuild the dedup index: %w", err)
	}
	return nil
}

// rebuildIndex files every identifier of the published log, checking each
// entry on the way.
func (w *Writer) rebuildIndex(ctx context.Context) error {
	size := w.durable
	for bi := uint64(0); bi*tiles.Width < size; bi++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		entries, err := readBundle(ctx, w.store, bi, size)
		if err != nil {
			return err
		}
		for i, raw := range entries {
			leaf := bi*tiles.Width + uint64(i)
			e, err := w.rules.Decode(raw)
			if err != nil {
				return fmt.Errorf("entry %d: %w", leaf, err)
			}
			if e.Code.Index != leaf {
				return fmt.Errorf("entry %d carries code %s", leaf, e.Code)
			}
			for _, id := range e.IDs {
				if err := w.idx.Insert(idindex.Fingerprint(id), leaf); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
