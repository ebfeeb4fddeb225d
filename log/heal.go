package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/tiles"
)

// ErrCorrupt marks evidence that the log's files are not what the writer
// made them: an immutable file with other bytes, a checkpoint that is not
// the log's, tiles that do not give the signed root, a staged batch that
// does not continue the log. A writer that meets it stops for good: a
// human must look before anything more is written.
var ErrCorrupt = errors.New("the log's files are damaged")

// corrupt wraps err as ErrCorrupt.
func corrupt(err error) error { return fmt.Errorf("%w: %w", ErrCorrupt, err) }

// Permanent reports whether a writer error is evidence of corruption,
// which no retry can mend. Every other error (a full disk, a shortage of
// file descriptors, an interrupted or timed-out I/O, a witness that does
// not answer, a storage service that throttles) is transient: the batch in
// flight fails, and Recover brings the writer back once the condition
// clears.
func Permanent(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, store.ErrImmutable) || errors.Is(err, store.ErrLostRace)
}

// Failure returns the error that stopped the writer, if one did, and
// whether it is permanent (see Permanent).
func (w *Writer) Failure() (err error, permanent bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed, w.failed != nil && Permanent(w.failed)
}

// Recover brings back a writer that stopped on a transient error, by the
// same recovery Open runs: read the published checkpoint and tree again,
// finish the staged batch if its checkpoint was not published (with
// exactly the staged bytes), repair the edge file. Batches prepared before
// the failure are dropped, never published: their requests were not
// answered with codes, and resubmitting them is safe. The identifier
// records of the batches in doubt are dropped too; the next index
// publication reads them from the bundles.
//
// It must not run alongside Prepare or Publish. It returns nil at once if
// the writer has not failed, and the failure itself if it is permanent.
func (w *Writer) Recover(ctx context.Context) error {
	failed, permanent := w.Failure()
	if failed == nil {
		return nil
	}
	if permanent {
		return failed
	}
	w.mu.Lock()
	w.inflight = nil
	w.mu.Unlock()
	if err := w.load(ctx); err != nil {
		if Permanent(err) {
			w.fail(err)
		}
		return fmt.Errorf("recovery: %w", err)
	}
	clear(w.cache)
	w.ids.Take(w.durable).Drop()
	w.mu.Lock()
	w.failed = nil
	w.mu.Unlock()
	return nil
}

// load reads the published state of the log into the writer, finishing
// a staged batch: what Open does after taking the lock, and Recover again.
func (w *Writer) load(ctx context.Context) error {
	cp, signed, err := readCheckpoint(ctx, w.store, w.verifier)
	if err != nil {
		return err
	}
	// The edge file is swapped over the version this writer last saw
	// (publishCheckpoint): see it now, before a staged batch is published.
	edgeFile, err := w.store.ReadFile(ctx, tiles.EdgePath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("couldn't read %s: %w", tiles.EdgePath, err)
	}
	tree, err := loadTree(ctx, w.store, cp.Size, cp.Root)
	if err != nil {
		return fmt.Errorf("couldn't load the log at size %d: %w", cp.Size, err)
	}
	w.mu.Lock()
	w.published, w.tree, w.durable = signed, tree, cp.Size
	w.mu.Unlock()
	if err := w.recoverStaged(ctx); err != nil {
		return err
	}
	if !bytes.Equal(w.published, signed) {
		return nil // the staged batch was published, and its edge with it
	}
	return w.repairEdge(ctx, edgeFile)
}
