package log

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
)

// On object storage, writers on different machines share no lock, and
// the checkpoint's compare-and-swap comes last: a writer that lost the
// race would discover it only after writing tiles at paths the winner
// needs. So before applying a batch, a writer on shared storage claims it:
// it replaces the claim object with "this writer, from size A to size B"
// by compare-and-swap (the store's SwapFile: If-Match on the version it
// last read or wrote). The loser of a race fails there, before writing
// anything public, and stops (store.ErrLostRace).
//
// The claim also tells a writer taking over the log (a new machine with
// the key and the bucket) whether a batch was being applied when the old
// one was lost: a claim past the published checkpoint that is not this
// writer's names the range whose tiles may be half written. The new
// writer claims the log, waits TakeoverWait for an old writer that might
// still be publishing, and if the checkpoint has not moved, fences the
// old writer off and removes those tiles: no checkpoint references them,
// and the new writer's own batch needs their paths.
//
// The wait alone would not be safe: an old writer stalled (a paused VM, a
// partition) between writing its tiles and replacing the checkpoint
// still holds the checkpoint's current version, and its compare-and-swap
// would succeed later, publishing tiles that were removed. So the new
// writer first replaces the checkpoint, by compare-and-swap, with the
// same checkpoint carrying one more signature line, by a throwaway key:
// every reader sees the same checkpoint (signed notes ignore signatures
// by unknown keys), but the object's version changes (an ETag is a hash
// of the bytes, so the same bytes again would not do), and the old
// writer's swap fails from then on, however late it comes. If the old
// writer's swap came first, the fence fails instead and the takeover
// stops before removing anything.

// claimPath is the claim object, beside the public tree's files (a
// dot-name: static hosts of ours never serve it; it holds no secret).
const claimPath = ".citylog/claim"

const claimMagic = "citylog-claim/v1"

// writerIDFile, in state/, names this writer in its claims.
const writerIDFile = "writer-id"

// DefaultTakeoverWait is how long a writer taking over a log waits for an
// old writer that might still be publishing a claimed batch.
const DefaultTakeoverWait = 10 * time.Second

type claim struct {
	writer   string
	from, to uint64
}

func (c claim) marshal() []byte {
	return []byte(fmt.Sprintf("%s\nwriter %s\nfrom %d\nto %d\n", claimMagic, c.writer, c.from, c.to))
}

func parseClaim(b []byte) (claim, error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) != 5 || lines[0] != claimMagic || lines[4] != "" {
		return claim{}, fmt.Errorf("%s is not a %s record", claimPath, claimMagic)
	}
	var c claim
	var ok1, ok2, ok3 bool
	c.writer, ok1 = strings.CutPrefix(lines[1], "writer ")
	from, ok2 := strings.CutPrefix(lines[2], "from ")
	to, ok3 := strings.CutPrefix(lines[3], "to ")
	var err1, err2 error
	c.from, err1 = strconv.ParseUint(from, 10, 64)
	c.to, err2 = strconv.ParseUint(to, 10, 64)
	if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil || c.writer == "" || c.to < c.from {
		return claim{}, fmt.Errorf("%s is malformed", claimPath)
	}
	return c, nil
}

// isShared reports whether a store is shared by writers on several
// machines (object storage), which says so with a Shared method.
func isShared(s Storage) bool {
	sh, ok := s.(interface{ Shared() bool })
	return ok && sh.Shared()
}

// writerID returns this state directory's writer name, making one the
// first time.
func writerID(state string) (string, error) {
	path := filepath.Join(state, writerIDFile)
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var r [12]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	if err := durable.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// readClaim reads the claim object (and, on object storage, remembers
// its version for the next compare-and-swap); nil if there is none.
func (w *Writer) readClaim(ctx context.Context) (*claim, error) {
	b, err := w.store.ReadFile(ctx, claimPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", claimPath, err)
	}
	c, err := parseClaim(b)
	if err != nil {
		return nil, corrupt(err)
	}
	return &c, nil
}

// claimBatch claims the batch from size from to size to for this writer,
// before any of its files is written.
func (w *Writer) claimBatch(ctx context.Context, from, to uint64) error {
	if w.writerID == "" {
		return nil // not shared storage
	}
	err := w.store.SwapFile(ctx, claimPath, claim{writer: w.writerID, from: from, to: to}.marshal())
	if errors.Is(err, store.ErrLostRace) {
		return fmt.Errorf("another writer claimed the log: %w", err)
	}
	return err
}

// takeOver runs at Open on shared storage, after the published log is
// loaded: if the claim names a batch past the published checkpoint that
// is not this writer's (its staged batch would have been published by
// load), the old writer is presumed lost and its half-written tiles are
// removed, after a wait for it to publish if it is alive after all.
func (w *Writer) takeOver(ctx context.Context, c *claim, wait time.Duration) error {
	if c == nil || c.to <= w.durable {
		return nil
	}
	// Claim the log first: an old writer still alive fails its next claim.
	if err := w.claimBatch(ctx, w.durable, w.durable); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
	}
	cp, _, err := readCheckpoint(ctx, w.store, w.verifier)
	if err != nil {
		return err
	}
	if cp.Size != w.durable {
		return fmt.Errorf("%w: the checkpoint moved from size %d to %d while this writer took over: another writer is alive; stop one of them",
			store.ErrLostRace, w.durable, cp.Size)
	}
	if err := w.fence(ctx); err != nil {
		return err
	}
	if adopted, err := w.adoptClaimed(ctx, c.to); err != nil || adopted {
		return err
	}
	w.leftover = map[string]bool{}
	for _, t := range unpublishedTiles(w.durable, c.to) {
		if err := w.store.RemoveFile(ctx, t.Path()); err != nil {
			return fmt.Errorf("couldn't remove %s, left by a batch that was never published: %w", t.Path(), err)
		}
		w.leftover[t.Path()] = true
	}
	w.leftoverTo = c.to
	return w.store.Sync(ctx)
}

// adoptClaimed publishes the lost writer's claimed batch as it left it,
// when every file of it is in place and is exactly what its entries give:
// such a batch may have been cosigned already (witnesses cosign once
// every file is durable, before the checkpoint is published), and a
// different tree at its size would be a fork that they refuse for ever.
// Its requests were never answered; resubmitted, they find their codes.
// It reports false, and the writer is as it was, when a file is missing
// or does not match: then no witness has seen the batch, and the caller
// removes it.
func (w *Writer) adoptClaimed(ctx context.Context, to uint64) (bool, error) {
	from := w.durable
	// Every file the batch wrote that the published tree does not
	// reference, each read once: its bundles give the entries, and all of
	// them are compared with what those entries give.
	left := map[string][]byte{}
	for _, t := range unpublishedTiles(from, to) {
		data, err := w.store.ReadFile(ctx, t.Path())
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		left[t.Path()] = data
	}
	b := &batch{stage: staging{start: from}}
	for bi := from / tiles.Width; bi*tiles.Width < to; bi++ {
		bt := tiles.Bundle(bi, to)
		entries, err := tiles.ParseBundle(left[bt.Path()], bt.Width)
		if err != nil {
			return false, nil
		}
		for j, e := range entries {
			i := bi*tiles.Width + uint64(j)
			if i < from {
				continue
			}
			if ent, err := w.rules.Decode(e); err != nil || ent.Code.Index != i {
				return false, nil
			}
			b.offsets = append(b.offsets, len(b.stage.entries))
			if err := b.stage.addWith(func(dst []byte) []byte { return append(dst, e...) }); err != nil {
				return false, nil
			}
		}
	}
	// Build the batch on the published tree as its writer did; if its
	// files are not what that gives, put the tree back and remove them.
	restore := func() (bool, error) { return false, w.load(ctx) }
	for i := range b.offsets {
		if err := w.tree.append(b.staged(i)); err != nil {
			return restore()
		}
	}
	if err := w.sign(b); err != nil {
		return restore()
	}
	for _, f := range b.files {
		got, ok := left[f.tile.Path()]
		if !ok { // a partial tile the growth left as the published tree has it
			var err error
			if got, err = w.store.ReadFile(ctx, f.tile.Path()); err != nil {
				return restore()
			}
		}
		if !bytes.Equal(got, f.data) {
			return restore()
		}
	}
	if err := w.publish(ctx, b); err != nil {
		return false, fmt.Errorf("couldn't publish the batch %d-%d left by the lost writer: %w", from, to, err)
	}
	w.mu.Lock()
	w.durable, w.published = b.size, b.checkpoint
	w.mu.Unlock()
	return true, nil
}

// takeoverKeyPrefix names the throwaway key of a takeover's fence; the
// writer's id follows.
const takeoverKeyPrefix = "citylog-takeover-"

// fence replaces the published checkpoint with itself plus a signature
// line by a throwaway key (see the package comment above), so that no
// writer holding the version it replaces can replace it any more.
func (w *Writer) fence(ctx context.Context) error {
	skey, _, err := note.GenerateKey(rand.Reader, takeoverKeyPrefix+w.writerID)
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	w.mu.Lock()
	published := w.published
	w.mu.Unlock()
	text, _, ok := bytes.Cut(published, []byte("\n\n"))
	if !ok {
		return corrupt(fmt.Errorf("the published checkpoint is not a signed note"))
	}
	signed, err := note.Sign(&note.Note{Text: string(text) + "\n"}, signer)
	if err != nil {
		return err
	}
	_, sig, _ := bytes.Cut(signed, []byte("\n\n"))
	fenced := append(append([]byte(nil), published...), sig...)
	if err := w.store.SwapFile(ctx, CheckpointPath, fenced); err != nil {
		return fmt.Errorf("couldn't fence off the old writer (it may be alive: stop it): %w", err)
	}
	w.mu.Lock()
	w.published = fenced
	w.mu.Unlock()
	return nil
}

// replaceLeftover reports whether a file the writer found at path with
// other bytes is a leftover of the batch a takeover removed, written late
// by the fenced-off old writer: no checkpoint can reference it, so it is
// replaced. Anywhere else, other bytes at an immutable path stay an
// error.
func (w *Writer) replaceLeftover(path string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.durable >= w.leftoverTo {
		w.leftover = nil // the log has grown past every path the old writer could write
	}
	return w.leftover[path]
}

// grownTiles returns every tile and bundle that growing a tree from size
// a to size b writes: the full ones it completes and the partial ones at
// b.
func grownTiles(a, b uint64) []tiles.Tile {
	var out []tiles.Tile
	for _, level := range append([]int{tiles.EntriesLevel}, levels(b)...) {
		shift := uint(0)
		if level > 0 {
			shift = tiles.Height * uint(level)
		}
		for i := (a >> shift) / tiles.Width; i < (b>>shift)/tiles.Width; i++ {
			out = append(out, tiles.Tile{Level: level, Index: i, Width: tiles.Width})
		}
	}
	return append(out, tiles.EdgeTiles(b)...)
}

// unpublishedTiles returns what a takeover removes of a batch from a to b
// that was never published: every tile and bundle the growth writes but
// the published tree of size a does not reference. A partial tile the
// growth leaves as it was (a level where a and b fall in the same tile
// with the same width: a batch within one 256-entry block, from level 1
// up) is the published tree's own, and stays.
func unpublishedTiles(a, b uint64) []tiles.Tile {
	published := map[tiles.Tile]bool{}
	for _, t := range tiles.EdgeTiles(a) {
		published[t] = true
	}
	var out []tiles.Tile
	for _, t := range grownTiles(a, b) {
		if !published[t] {
			out = append(out, t)
		}
	}
	return out
}

// levels returns the hash tile levels of a tree of size n.
func levels(n uint64) []int {
	var out []int
	for l := 0; n>>(tiles.Height*uint(l)) > 0; l++ {
		out = append(out, l)
	}
	return out
}
