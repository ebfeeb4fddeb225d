// Package idpublish publishes a log's identifier index (the format of
// package idshard), so that cityverify find can locate a code by
// identifier without a server. The writer hands it the identifier records
// of every batch it publishes; Publish brings the index up to a published
// log size.
//
// The index is a hint, never trusted by verifiers, so it is published
// after the checkpoint and may lag it; what matters is that every run ends
// with an index that is right for the size it claims, whatever a crash cut
// short before. Each width of shards lives in a directory of its own
// (index/ids/<bits>/), and the meta names the width, so the ways to bring
// the index up to date are:
//
//   - incremental: the shards that gained lines are rewritten in place,
//     each merged with its old lines; a crash leaves shards with lines the
//     meta does not claim yet, which the next run merges again (repeats
//     are dropped);
//   - split: when the log needs more shards, the wider width is written
//     into its own directory from the shards of the published one, which
//     it only reads; a crash leaves the published index untouched;
//   - rebuild: when the meta is missing, damaged, or ahead of the log,
//     every shard of the width is written from the entry bundles.
//
// Only then is the meta replaced, and the directories of other widths
// removed (also at the first publication of a session, in case a crash
// came between the two).
package idpublish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/citylog/citylog/internal/parallel"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
)

// Store is the part of the log's storage the index is written to (the
// writer's Storage: a directory or a bucket).
type Store interface {
	// ReadFile returns the file at path; a missing file is an error
	// wrapping fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// PutFile atomically replaces path; durable after Sync.
	PutFile(ctx context.Context, path string, data []byte) error
	// ReplaceFile atomically replaces path, durably.
	ReplaceFile(ctx context.Context, path string, data []byte) error
	// RemoveFile removes path; a missing file is not an error.
	RemoveFile(ctx context.Context, path string) error
	// Sync makes every write that returned before it durable.
	Sync(ctx context.Context) error
}

// Options tune a Publisher; the zero value is what citylog runs with.
type Options struct {
	// SpoolLimit is how many bytes of identifier records are held in
	// memory before they move to scratch files (default 64 MiB, about a
	// million entries).
	SpoolLimit int
	// ScratchDir is where those files go (the writer's state directory).
	ScratchDir string
	// Bits is the shard width for an index of so many identifiers
	// (default idshard.BitsFor).
	Bits func(identifiers uint64) int
}

// workers is how many shard or bundle reads and writes are in flight at
// once: enough to hide a remote store's latency, few enough for a disk.
const workers = 4

// DefaultSpoolLimit is the default Options.SpoolLimit.
const DefaultSpoolLimit = 64 << 20

// Publisher keeps one log's identifier index.
type Publisher struct {
	store Store
	rules *entry.Rules // reads the bundles when the index is rebuilt
	opts  Options

	mu      sync.Mutex
	pending *Spool // the records of entries the published index lacks
	swept   bool   // other widths were looked for since the last rewrite
}

// New returns the publisher of the index of the log in store, whose
// published size is size; rules decode its entries.
func New(store Store, rules *entry.Rules, size uint64, opts Options) *Publisher {
	if opts.SpoolLimit <= 0 {
		opts.SpoolLimit = DefaultSpoolLimit
	}
	if opts.Bits == nil {
		opts.Bits = idshard.BitsFor
	}
	p := &Publisher{store: store, rules: rules, opts: opts}
	p.pending = p.newSpool(size)
	return p
}

func (p *Publisher) newSpool(from uint64) *Spool {
	return newSpool(p.opts.ScratchDir, from, p.opts.SpoolLimit)
}

// Add takes the records (AppendRecord) of the entries a batch just
// published, in log order; the caller must not change them afterwards.
// Call SpillIfFull afterwards, outside the caller's locks.
func (p *Publisher) Add(records []byte) {
	p.mu.Lock()
	p.pending.add(records)
	p.mu.Unlock()
}

// SpillIfFull moves the records held in memory to scratch files once they
// pass the limit, so memory stays bounded however many are published.
func (p *Publisher) SpillIfFull() {
	p.mu.Lock()
	sp := p.pending
	p.mu.Unlock()
	sp.spillIfFull()
}

// Take returns the records of the entries published up to size, the log's
// published size, and starts collecting anew from there. The caller must
// hold size and the Adds in step (its lock). The records taken are gone
// from the publisher, published or not: if Publish fails, the next one
// reads them from the bundles instead.
func (p *Publisher) Take(size uint64) *Spool {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.pending
	p.pending = p.newSpool(size)
	return sp
}

// Pending says where the records waiting for the next Publish are: how
// many bytes of them are in memory, whether some moved to scratch files,
// and whether a move failed and lost them (Publish then reads them from
// the bundles).
func (p *Publisher) Pending() (inMemory int, spilled, lost bool) {
	p.mu.Lock()
	sp := p.pending
	p.mu.Unlock()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.memBytes, sp.files != nil, sp.err != nil
}

// Close drops the records not yet published.
func (p *Publisher) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending.close()
}

// job is what a publication has to do.
type job int

const (
	upToDate job = iota
	incremental
	split
	rebuild
)

// plan decides how to bring an index described by meta (zero if missing
// or damaged) to a log of size with shards of bits.
func plan(meta idshard.Meta, size uint64, bits int) job {
	switch {
	case meta.Bits == 0 || meta.Size > size || meta.Bits > bits:
		return rebuild
	case meta.Bits < bits:
		return split
	case meta.Size == size:
		return upToDate
	}
	return incremental
}

// Publish brings the index up to size, the log's published size, adding
// the records of sp (from Take); the log's dedup index holds identifiers
// identifiers, which sets the shard width. It may run while the writer
// publishes more batches. A shard that does not parse is rewritten from
// its new lines alone: its old lines are lost until the next rebuild.
func (p *Publisher) Publish(ctx context.Context, size uint64, sp *Spool, identifiers uint64) error {
	defer func() { sp.close() }()
	meta, err := p.readMeta(ctx)
	if err != nil {
		return err
	}
	bits := p.opts.Bits(identifiers)
	j := plan(meta, size, bits)
	if j == upToDate {
		return p.sweep(ctx, bits)
	}
	from := meta.Size
	if j == rebuild {
		from = 0
		// Shards of citylog before the widths had directories sit where
		// the width directories go.
		if err := p.removeFlatShards(ctx); err != nil {
			return err
		}
	}
	if sp, err = p.gather(ctx, sp, from, size); err != nil {
		return err
	}
	switch j {
	case incremental:
		err = p.merge(ctx, sp, bits)
	case split:
		err = p.split(ctx, sp, meta.Bits, bits)
	case rebuild:
		err = p.rebuild(ctx, sp, bits)
	}
	if err != nil {
		return err
	}
	// The shards are durable before the meta that claims them.
	if err := p.store.Sync(ctx); err != nil {
		return err
	}
	if err := p.store.ReplaceFile(ctx, idshard.MetaPath, idshard.Meta{Size: size, Bits: bits}.Marshal()); err != nil {
		return err
	}
	if j != incremental {
		p.swept = false
	}
	return p.sweep(ctx, bits)
}

// readMeta returns the published meta, or the zero Meta if it is missing
// or damaged (the index is then rebuilt).
func (p *Publisher) readMeta(ctx context.Context) (idshard.Meta, error) {
	b, err := p.store.ReadFile(ctx, idshard.MetaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return idshard.Meta{}, nil
	}
	if err != nil {
		return idshard.Meta{}, fmt.Errorf("couldn't read %s: %w", idshard.MetaPath, err)
	}
	meta, err := idshard.ParseMeta(b)
	if err != nil {
		return idshard.Meta{}, nil
	}
	return meta, nil
}

// gather makes sp hold the records of every entry in [from, size): those
// published before sp started are read from the bundles, and so are all
// of them if a spill of sp failed and lost its records.
func (p *Publisher) gather(ctx context.Context, sp *Spool, from, size uint64) (*Spool, error) {
	if sp.lost() {
		sp.close()
		sp = p.newSpool(size)
	}
	if from < sp.from {
		if err := p.readIDs(ctx, from, sp.from, sp); err != nil {
			return sp, err
		}
	}
	return sp, sp.finish()
}

// eachUnit calls fn with the shards of width bits of each unit of the
// spool in turn (shard first+k is shards[k]): one unit is in memory at a
// time, whatever the size of the import or of the rebuild.
func eachUnit(sp *Spool, bits int, fn func(first int, shards [][]byte) error) error {
	n := sp.units(bits)
	for u := range n {
		shards, err := sp.unit(u, n, bits)
		if err != nil {
			return err
		}
		if err := fn(u*len(shards), shards); err != nil {
			return err
		}
	}
	return nil
}

// merge adds sp's lines to the shards of the published width, rewriting
// only the shards that gained lines.
func (p *Publisher) merge(ctx context.Context, sp *Spool, bits int) error {
	return eachUnit(sp, bits, func(first int, shards [][]byte) error {
		var touched []int
		for k, lines := range shards {
			if len(lines) > 0 {
				touched = append(touched, k)
			}
		}
		return parallel.Each(ctx, len(touched), workers, func(ctx context.Context, t int) error {
			k := touched[t]
			path := idshard.ShardPath(uint32(first+k), bits)
			old, err := p.readShard(ctx, path)
			if err != nil {
				return err
			}
			return p.writeShard(ctx, path, old, shards[k])
		})
	})
}

// rebuild writes every shard of width bits from sp's lines alone: an
// empty shard too, so that no stale file of an earlier index survives.
// Shard 0 goes first, so a width whose shard 0 is missing has no files
// (sweep looks for shard 0).
func (p *Publisher) rebuild(ctx context.Context, sp *Spool, bits int) error {
	return eachUnit(sp, bits, func(first int, shards [][]byte) error {
		return firstThenRest(ctx, len(shards), func(ctx context.Context, k int) error {
			return p.writeShard(ctx, idshard.ShardPath(uint32(first+k), bits), nil, shards[k])
		})
	})
}

// readShard returns the shard at path, nil if there is none.
func (p *Publisher) readShard(ctx context.Context, path string) ([]byte, error) {
	b, err := p.store.ReadFile(ctx, path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("couldn't read %s: %w", path, err)
	}
	return b, nil
}

// split writes the index at width bits from the published shards of
// oldBits and sp's lines: old shard i becomes new shards i<<d ... i<<d +
// 2^d - 1. The old shards are only read, so the published index stays
// whole until the meta names the new width.
func (p *Publisher) split(ctx context.Context, sp *Spool, oldBits, bits int) error {
	d := bits - oldBits
	n := sp.units(oldBits)
	per := (1 << oldBits) / n // old shards per unit
	for u := range n {
		pending, err := sp.unit(u, n, bits)
		if err != nil {
			return err
		}
		lo := u * per
		err = firstThenRest(ctx, per, func(ctx context.Context, k int) error {
			i := lo + k
			old, err := p.readShard(ctx, idshard.ShardPath(uint32(i), oldBits))
			if err != nil {
				return err
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
				if err := p.writeShard(ctx, idshard.ShardPath(uint32(m), bits), part, pending[m-lo<<d]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// writeShard writes the shard at path: the lines of old (a shard's bytes,
// nil for none) and the pending lines. An old that does not parse (a
// damaged file) is dropped: the index is only a hint, and a rebuild
// brings its lines back.
func (p *Publisher) writeShard(ctx context.Context, path string, old, pending []byte) error {
	add := parsePending(pending)
	data, err := idshard.Merge(old, add)
	if err != nil {
		data = idshard.Marshal(add)
	}
	if err := p.store.PutFile(ctx, path, data); err != nil {
		return fmt.Errorf("couldn't write %s: %w", path, err)
	}
	return nil
}

// sweep removes the shards of every width but bits, once after each
// rewrite and once a session (a crash may have come between a new meta
// and the removals). A width has files only if its shard 0 exists: a
// rewrite writes shard 0 first.
func (p *Publisher) sweep(ctx context.Context, bits int) error {
	if p.swept {
		return nil
	}
	removed := false
	for w := idshard.MinBits; w <= idshard.MaxBits; w++ {
		if w == bits {
			continue
		}
		if !p.exists(ctx, idshard.ShardPath(0, w)) {
			continue
		}
		if err := p.removeAll(ctx, 1<<w, func(i int) string { return idshard.ShardPath(uint32(i), w) }); err != nil {
			return err
		}
		removed = true
	}
	if err := p.removeFlatShards(ctx); err != nil {
		return err
	}
	if removed {
		if err := p.store.Sync(ctx); err != nil {
			return err
		}
	}
	p.swept = true
	return nil
}

// removeFlatShards removes the shards of citylog's first index layout
// (index/ids/<hex>, 1-4 digits, no width directory), if any.
func (p *Publisher) removeFlatShards(ctx context.Context) error {
	for digits := 1; digits <= 4; digits++ {
		if !p.exists(ctx, idshard.Dir+strings.Repeat("0", digits)) {
			continue
		}
		err := p.removeAll(ctx, 1<<(4*digits), func(i int) string {
			s := strconv.FormatUint(uint64(i), 16)
			return idshard.Dir + strings.Repeat("0", digits-len(s)) + s
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// exists reports whether path may exist: any answer but "not there"
// counts, so that a read error never skips a removal.
func (p *Publisher) exists(ctx context.Context, path string) bool {
	_, err := p.store.ReadFile(ctx, path)
	return !errors.Is(err, fs.ErrNotExist)
}

// removeAll removes the files path(0) ... path(n-1).
func (p *Publisher) removeAll(ctx context.Context, n int, path func(int) string) error {
	return parallel.Each(ctx, n, workers, func(ctx context.Context, i int) error { return p.store.RemoveFile(ctx, path(i)) })
}

// readIDs adds the records of the identifiers of leaves [from, to) to sp,
// read from the bundles and decoded on a few goroutines.
func (p *Publisher) readIDs(ctx context.Context, from, to uint64, sp *Spool) error {
	first := from / tiles.Width
	return parallel.Each(ctx, int((to+tiles.Width-1)/tiles.Width-first), workers, func(ctx context.Context, k int) error {
		bi := first + uint64(k)
		bt := tiles.Bundle(bi, to)
		// A partial bundle of an older size may have been collected: read
		// it from the full one, as any reader does.
		entries, err := source.FetchBundle(ctx, source.Func{Name: "the log's storage", Read: p.store.ReadFile}, bt)
		if err != nil {
			return fmt.Errorf("couldn't read %s: %w", bt.Path(), err)
		}
		var records []byte
		for i, raw := range entries {
			leaf := bi*tiles.Width + uint64(i)
			if leaf < from {
				continue
			}
			e, err := p.rules.Decode(raw)
			if err != nil {
				return fmt.Errorf("couldn't read the identifiers of entry %d (in bundle %s) for the identifier index: %w", leaf, bt.Path(), err)
			}
			for _, id := range e.IDs {
				records = AppendRecord(records, idshard.Key(id), id, leaf)
			}
		}
		sp.add(records)
		sp.spillIfFull()
		return nil
	})
}

// firstThenRest runs fn(0), then fn(1) ... fn(n-1) on a few goroutines.
func firstThenRest(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	if err := fn(ctx, 0); err != nil {
		return err
	}
	return parallel.Each(ctx, n-1, workers, func(ctx context.Context, i int) error { return fn(ctx, i+1) })
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
