package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/citylog/citylog/log/dirstore"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
)

// PublishIDIndex brings the public identifier index (package idshard) up
// to the published log size, so that cityverify find can locate a code
// by identifier. Only shards that gained lines are rewritten; when the
// log has grown enough to need more shards, each shard is split into its
// successors (the first bits of an identifier's hash are its shard, so a
// shard's lines go to a few shards of the next width), one shard at a
// time. Only an index that is missing, damaged or cut off by a crash
// during a split is rebuilt from the entry bundles. The index is a hint,
// never trusted by verifiers, so it is published after the checkpoint and
// may lag it. Call it when no Allocate or Import runs.
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
	splitMark := filepath.Join(w.state, idSplitFile)
	_, err := os.Stat(splitMark)
	interrupted := err == nil
	full := meta.Bits == 0 || meta.Bits > bits || meta.Size > size || interrupted
	split := !full && meta.Bits < bits
	from := meta.Size
	if full {
		from = 0
	}
	raw := pending
	if from < pendingFrom {
		older, err := w.readIDs(ctx, from, pendingFrom)
		if err != nil {
			return err
		}
		raw = append([][]byte{older}, pending...)
	}
	// Lines stay raw bytes until their shard is written, so that memory
	// holds each identifier about twice, not as a slice of strings.
	shards := groupByShard(raw, bits)
	if split {
		// Split shards are read from files that the split overwrites: a
		// crash in between must not leave a next run reading them as
		// shards of the old width, so it rebuilds from the bundles.
		if err := dirstore.WriteFileDurable(splitMark, nil, 0o600); err != nil {
			return err
		}
		if err := w.splitShards(ctx, meta.Bits, bits, shards); err != nil {
			return err
		}
		return w.finishIDIndex(ctx, size, bits, len(pending), splitMark)
	}
	var touched []uint32
	for i, ls := range shards {
		if full || len(ls) > 0 { // a full rebuild writes empty shards too: no stale file survives
			touched = append(touched, uint32(i))
		}
	}
	if err := parallel(ctx, len(touched), func(k int) error {
		i := touched[k]
		path := idshard.ShardPath(i, bits)
		add := parsePending(shards[i])
		var data []byte
		if !full {
			old, err := w.store.ReadFile(ctx, path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("couldn't read %s: %w", path, err)
			}
			data, _ = idshard.Merge(old, add) // nil if old is damaged: its lines are dropped
		}
		if data == nil {
			data = idshard.Marshal(add)
		}
		if err := w.store.PutFile(ctx, path, data); err != nil {
			return fmt.Errorf("couldn't write %s: %w", path, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return w.finishIDIndex(ctx, size, bits, len(pending), splitMark)
}

// finishIDIndex makes the shards durable, then publishes the meta that
// describes them, and forgets the pending lines they now hold.
func (w *Writer) finishIDIndex(ctx context.Context, size uint64, bits, published int, splitMark string) error {
	if err := w.store.Sync(ctx); err != nil {
		return err
	}
	if err := w.store.ReplaceFile(ctx, idshard.MetaPath, idshard.Meta{Size: size, Bits: bits}.Marshal()); err != nil {
		return err
	}
	if err := os.Remove(splitMark); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	w.mu.Lock()
	w.pendingIDs, w.pendingFrom = w.pendingIDs[published:], size
	w.mu.Unlock()
	return nil
}

// splitShards rewrites the index of oldBits shards as one of bits shards,
// adding the pending lines (grouped by new shard). Old shard i becomes
// new shards i<<d ... i<<d + 2^d - 1, whose files are old shard files of
// the same or higher numbers: so old shards are taken from the highest
// down, and a new shard waits until the old one at its path was read.
// Memory holds a few shards at a time, whatever the log's size.
func (w *Writer) splitShards(ctx context.Context, oldBits, bits int, pending [][]byte) error {
	d := bits - oldBits
	oldCount := 1 << oldBits
	read := make([]chan struct{}, oldCount)
	for i := range read {
		read[i] = make(chan struct{})
	}
	return parallel(ctx, oldCount, func(k int) error {
		i := oldCount - 1 - k
		old, err := w.store.ReadFile(ctx, idshard.ShardPath(uint32(i), oldBits))
		close(read[i])
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
			n := i<<d + j
			if n < oldCount && n != i {
				select {
				case <-read[n]:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			add := parsePending(pending[n])
			data, err := idshard.Merge(part, add)
			if err != nil {
				data = idshard.Marshal(add)
			}
			path := idshard.ShardPath(uint32(n), bits)
			if err := w.store.PutFile(ctx, path, data); err != nil {
				return fmt.Errorf("couldn't write %s: %w", path, err)
			}
		}
		return nil
	})
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

// readIDs reads the identifiers of leaves [from, to) from the bundles, as
// "identifier TAB leaf NL" lines.
func (w *Writer) readIDs(ctx context.Context, from, to uint64) ([]byte, error) {
	var out []byte
	for bi := from / tiles.Width; bi*tiles.Width < to; bi++ {
		entries, err := readBundle(ctx, w.store, bi, to)
		if err != nil {
			return nil, err
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
				out = append(append(out, id...), '\t')
				out = append(strconv.AppendUint(out, leaf, 10), '\n')
			}
		}
	}
	return out, nil
}

// groupByShard splits buffers of raw "identifier TAB leaf NL" lines by
// shard, hashing on all cores.
func groupByShard(bufs [][]byte, bits int) [][]byte {
	idx := make([][]uint32, len(bufs)) // the shard of each line of each buffer
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := k; n < len(bufs); n += workers {
				eachLine(bufs[n], func(line []byte) {
					id, _, _ := bytes.Cut(line, []byte{'\t'})
					idx[n] = append(idx[n], idshard.ShardIndexBytes(id, bits))
				})
			}
		}()
	}
	wg.Wait()
	shards := make([][]byte, 1<<bits)
	for n, buf := range bufs {
		i := 0
		eachLine(buf, func(line []byte) {
			shards[idx[n][i]] = append(shards[idx[n][i]], line...)
			i++
		})
	}
	return shards
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

// parallel runs fn(0..n-1) on a few goroutines and returns the first error.
func parallel(ctx context.Context, n int, fn func(int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
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
				}
			}
		}()
	}
	for k := 0; k < n && ctx.Err() == nil; k++ {
		next <- k
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
