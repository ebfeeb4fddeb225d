package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
)

// PublishIDIndex brings the public identifier index (package idshard) up
// to the published log size, so that cityverify find can locate a code by
// identifier. Only shards that gained lines are rewritten; when the log
// has grown enough to need more shards, each shard is split into its
// successors (the first bits of an identifier's hash are its shard, so a
// shard's lines go to a few shards of the next width), one shard at a
// time. Only an index whose meta is missing or damaged, or that a crash
// cut off during a split or a rebuild, is rebuilt from the entry bundles.
// The index is a hint, never trusted by verifiers, so it is published
// after the checkpoint and may lag it. It may run while prepared batches
// are published, not alongside Prepare, Allocate or Import. A shard that
// does not parse is rewritten from the new lines alone: its old lines are
// lost until the next rebuild.
func (w *Writer) PublishIDIndex(ctx context.Context) error {
	size, sp := w.takePending()
	return w.publishIDIndex(ctx, size, sp, w.idx.Len())
}

// takePending returns the published size and the spool of the lines the
// index lacks up to it, leaving the writer a new spool. The lines taken
// are gone from the writer, published or not: if publishing them fails,
// the next publication reads them from the bundles instead.
func (w *Writer) takePending() (uint64, *idSpool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	size, sp := w.durable, w.pending
	w.pending = newSpool(w.state, size, w.spoolLimit)
	return size, sp
}

// publishIDIndex is PublishIDIndex for the lines of sp, up to size, in a
// log whose dedup index holds identifiers identifiers.
func (w *Writer) publishIDIndex(ctx context.Context, size uint64, sp *idSpool, identifiers uint64) error {
	defer func() { sp.close() }()
	meta := idshard.Meta{}
	if b, err := w.store.ReadFile(ctx, idshard.MetaPath); err == nil {
		if meta, err = idshard.ParseMeta(b); err != nil {
			meta = idshard.Meta{} // damaged: rebuild
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("couldn't read %s: %w", idshard.MetaPath, err)
	}
	markPath := filepath.Join(w.state, idSplitFile)
	mark, marked, err := readIndexMark(markPath)
	if err != nil {
		return err
	}
	if meta.Size == size && meta.Bits != 0 && !marked {
		return nil
	}
	bits := w.shardBits(identifiers)
	full := meta.Bits == 0 || meta.Bits > bits || meta.Size > size || marked && !mark.cleanup
	split := !full && meta.Bits < bits
	from := meta.Size
	if full {
		from = 0
	}
	if full || split {
		// Shards are overwritten or left at another width: a crash before
		// the new meta must make the next run rebuild from the bundles,
		// and whatever the outcome the widths that may hold files are
		// recorded, to be cleared once the new index is published.
		widths := []int{bits}
		if meta.Bits != 0 {
			widths = append(widths, meta.Bits)
		} else {
			widths = append(widths, w.publishedWidths(ctx)...)
		}
		if marked {
			widths = append(widths, mark.widths...)
		}
		slices.Sort(widths)
		mark, marked = indexMark{widths: slices.Compact(widths)}, true
		if err := mark.write(markPath); err != nil {
			return err
		}
	}
	var clear *indexMark
	if marked {
		clear = &mark
	}
	if sp.lost() {
		// A spill failed: its lines are lost, so read them all again.
		sp.close()
		sp = newSpool(w.state, size, w.spoolLimit)
	}
	if from < sp.from {
		if err := w.readIDs(ctx, from, sp.from, sp); err != nil {
			return err
		}
	}
	if err := sp.finish(); err != nil {
		return err
	}
	if split {
		// Split shards are read from files that the split overwrites: the
		// mark makes a run after a crash in between rebuild from the
		// bundles instead of reading them as shards of the old width.
		if err := w.splitShards(ctx, meta.Bits, bits, sp); err != nil {
			return err
		}
		return w.finishIDIndex(ctx, size, bits, markPath, clear)
	}
	// One unit of the spool at a time: memory holds a bounded part of the
	// lines, whatever the size of the import or of the rebuild.
	n := sp.units(bits)
	for u := range n {
		shards, err := sp.unit(u, n, bits)
		if err != nil {
			return err
		}
		first := u * len(shards)
		var touched []int
		for k, ls := range shards {
			if full || len(ls) > 0 { // a full rebuild writes empty shards too: no stale file survives
				touched = append(touched, k)
			}
		}
		if err := parallel(ctx, len(touched), func(t int) error {
			k := touched[t]
			path := idshard.ShardPath(uint32(first+k), bits)
			var old []byte
			if !full {
				var err error
				if old, err = w.store.ReadFile(ctx, path); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("couldn't read %s: %w", path, err)
				}
			}
			return w.writeShard(ctx, path, old, shards[k])
		}); err != nil {
			return err
		}
	}
	return w.finishIDIndex(ctx, size, bits, markPath, clear)
}

// writeShard writes the shard at path: the lines of old (a shard's bytes,
// nil for none) and the pending lines. An old that does not parse (a
// damaged file) is dropped: the index is only a hint, and a rebuild
// brings its lines back.
func (w *Writer) writeShard(ctx context.Context, path string, old, pending []byte) error {
	add := parsePending(pending)
	data, err := idshard.Merge(old, add)
	if err != nil {
		data = idshard.Marshal(add)
	}
	if err := w.store.PutFile(ctx, path, data); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}

// finishIDIndex makes the shards durable, then publishes the meta that
// describes them. After a split or a rebuild (mark is set) it then
// removes the shards of the mark's widths that the new width does not
// use, makes the removals durable and removes the mark; the mark says
// "cleanup" meanwhile, so a crash only leaves removals to finish.
func (w *Writer) finishIDIndex(ctx context.Context, size uint64, bits int, markPath string, mark *indexMark) error {
	if err := w.store.Sync(ctx); err != nil {
		return err
	}
	if err := w.store.ReplaceFile(ctx, idshard.MetaPath, idshard.Meta{Size: size, Bits: bits}.Marshal()); err != nil {
		return err
	}
	if mark == nil {
		return nil
	}
	if !mark.cleanup {
		mark.cleanup = true
		if err := mark.write(markPath); err != nil {
			return err
		}
	}
	for _, old := range mark.widths {
		first := 0 // shard names of old's width are all stale ...
		if idshard.NameDigits(old) == idshard.NameDigits(bits) {
			first = 1 << bits // ... but those the new width uses
		}
		if first >= 1<<old {
			continue
		}
		if err := parallel(ctx, 1<<old-first, func(i int) error {
			return w.store.RemoveFile(ctx, idshard.ShardPath(uint32(first+i), old))
		}); err != nil {
			return err
		}
	}
	if err := w.store.Sync(ctx); err != nil {
		return err
	}
	if err := os.Remove(markPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// publishedWidths returns the widths, one per number of hex digits in
// shard names, whose shard 0 exists: where an index of unknown width (its
// meta is missing or damaged) may have left files. Every split or
// rebuild writes shard 0, and a split cut off before it did left a mark
// that names its widths.
func (w *Writer) publishedWidths(ctx context.Context) []int {
	var out []int
	for b := 4; b <= idshard.MaxBits; b += 4 {
		if _, err := w.store.ReadFile(ctx, idshard.ShardPath(0, b)); !errors.Is(err, fs.ErrNotExist) {
			out = append(out, b)
		}
	}
	return out
}

// splitShards rewrites the index of oldBits shards as one of bits shards,
// adding the spool's lines. Old shard i becomes new shards i<<d ...
// i<<d + 2^d - 1, whose files are old shard files of the same or higher
// numbers: so old shards are taken from the highest down (unit by unit,
// and within a unit), and a new shard waits until the old one at its
// path was read. Memory holds one unit of the spool and a few shards at
// a time, whatever the log's size.
func (w *Writer) splitShards(ctx context.Context, oldBits, bits int, sp *idSpool) error {
	d := bits - oldBits
	n := sp.units(oldBits)
	per := (1 << oldBits) / n // old shards per unit
	for u := n - 1; u >= 0; u-- {
		pending, err := sp.unit(u, n, bits)
		if err != nil {
			return err
		}
		lo, hi := u*per, (u+1)*per
		read := make([]chan struct{}, per)
		for i := range read {
			read[i] = make(chan struct{})
		}
		if err := parallel(ctx, per, func(k int) error {
			i := hi - 1 - k
			old, err := w.store.ReadFile(ctx, idshard.ShardPath(uint32(i), oldBits))
			close(read[i-lo])
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("couldn't read %s: %w", idshard.ShardPath(uint32(i), oldBits), err)
			}
			parts := make([][]byte, 1<<d)
			eachLine(old, func(line []byte) {
				id, _, _ := bytes.Cut(line, []byte{'\t'})
				// A line in the wrong shard (a damaged file) is dropped here,
				// a malformed one by Merge below: the index is only a hint.
				if j := int(idshard.ShardIndexBytes(id, bits)) - i<<d; j >= 0 && j < len(parts) {
					parts[j] = append(parts[j], line...)
				}
			})
			for j, part := range parts {
				m := i<<d + j
				if m < hi && m != i { // old shards of higher units were read already
					select {
					case <-read[m-lo]:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				if err := w.writeShard(ctx, idshard.ShardPath(uint32(m), bits), part, pending[m-lo<<d]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// parsePending reads the pending "identifier TAB leaf NL" lines.
func parsePending(b []byte) []idshard.Line {
	out := make([]idshard.Line, 0, bytes.Count(b, []byte{'\n'}))
	s := string(b) // one copy; the identifiers are substrings of it
	for len(s) > 0 {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		id, leaf, _ := strings.Cut(line, "\t")
		n, _ := strconv.ParseUint(leaf, 10, 64)
		out = append(out, idshard.Line{ID: id, Leaf: n})
	}
	return out
}

// readIDs adds the identifiers of leaves [from, to) from the bundles to
// sp, decoding bundles on all cores.
func (w *Writer) readIDs(ctx context.Context, from, to uint64, sp *idSpool) error {
	first := from / tiles.Width
	return parallel(ctx, int((to+tiles.Width-1)/tiles.Width-first), func(k int) error {
		bi := first + uint64(k)
		entries, err := readBundle(ctx, w.store, bi, to)
		if err != nil {
			return err
		}
		var lines []byte
		for i, raw := range entries {
			leaf := bi*tiles.Width + uint64(i)
			if leaf < from {
				continue
			}
			e, err := w.rules.Decode(raw)
			if err != nil {
				return fmt.Errorf("couldn't read the identifiers of entry %d (in bundle %s) for the identifier index: %w",
					leaf, tiles.Bundle(bi, to).Path(), err)
			}
			for _, id := range e.IDs {
				lines = appendRecord(lines, idshard.Key(id), id, leaf)
			}
		}
		sp.add(lines)
		sp.spillIfFull()
		return nil
	})
}

// eachLine calls fn with every line of b, newline included.
func eachLine(b []byte, fn func(line []byte)) {
	for len(b) > 0 {
		end := bytes.IndexByte(b, '\n') + 1
		if end == 0 {
			end = len(b)
		}
		fn(b[:end])
		b = b[end:]
	}
}

// parallel runs fn(0..n-1) on a few goroutines and returns the first
// error; after an error or cancellation it starts no new call.
func parallel(ctx context.Context, n int, fn func(int) error) error {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		first  error
		failed atomic.Bool
		next   = make(chan int)
	)
	for range min(4, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if err := fn(k); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		}()
	}
	for k := 0; k < n && ctx.Err() == nil && !failed.Load(); k++ {
		next <- k
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
