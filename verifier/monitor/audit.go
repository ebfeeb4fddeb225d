package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/citylog/citylog/internal/fptable"
	"github.com/citylog/citylog/internal/parallel"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// audit is one round's work from state st up to checkpoint cp.
type audit struct {
	st    state
	cp    verifier.Checkpoint
	rules *entry.Rules
	src   source.Source
	idx   *fptable.Table
	tree  *tiles.Builder // the tree recomputed from the entries
	vs    []Violation
	older map[uint64][][]byte // bundles re-read to confirm reused identifiers
}

func (m *Monitor) newAudit(ctx context.Context, st state, cp verifier.Checkpoint, rules *entry.Rules) (*audit, error) {
	a := &audit{st: st, cp: cp, rules: rules, src: m.src, older: map[uint64][][]byte{}}
	var err error
	// The incomplete tile of each level carries over from the last save.
	if a.tree, err = tiles.NewBuilder(st.Size, st.Range, st.Edge); err != nil {
		return nil, fmt.Errorf("stored state is damaged: %w", err)
	}
	a.tree.Full = a.compareTile
	path := m.path("ids.idx")
	// The identifier store stays on disk (its pages are the kernel's to
	// evict), so the monitor's memory does not grow with the log.
	if a.idx, err = fptable.OpenShared(path, st.Size); errors.Is(err, fptable.ErrStale) {
		// Missing or damaged: rebuild the identifier store from the log.
		// Sized for two identifiers an entry, a guess that saves growing.
		if a.idx, err = fptable.CreateShared(path, 2*cp.Size); err == nil {
			err = a.rebuild(ctx, st.Size)
		}
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// rebuild files the identifiers of entries [0, size) again.
func (a *audit) rebuild(ctx context.Context, size uint64) error {
	for bi := uint64(0); bi*tiles.Width < size; bi++ {
		bt := tiles.Bundle(bi, size)
		entries, err := source.FetchBundle(ctx, a.src, bt)
		if err != nil {
			return err
		}
		for i, raw := range entries {
			e, err := a.rules.Decode(raw)
			if err != nil {
				continue // reported when it was audited
			}
			for _, id := range e.IDs {
				a.idx.Insert(fptable.Fingerprint(id), bi*tiles.Width+uint64(i))
			}
		}
	}
	return nil
}

func (a *audit) violation(kind string, index uint64, raw []byte, format string, args ...any) {
	a.vs = append(a.vs, Violation{Kind: kind, Index: index, Entry: string(raw), Detail: fmt.Sprintf(format, args...), Checkpoint: string(a.cp.Signed)})
}

// run audits entries [st.Size, cp.Size), then the tree and the index.
func (a *audit) run(ctx context.Context, m *Monitor) error {
	size := a.cp.Size
	start := a.st.Size
	lastSave := start
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the prefetcher on an early return
	bundles := a.prefetch(ctx, start, size)
	for leaf := start; leaf < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, ok := <-bundles
		if !ok {
			return ctx.Err()
		}
		bi, bt, entries, err := f.bt.Index, f.bt, f.entries, f.err
		if err != nil {
			if errors.Is(err, source.ErrNotFound) || errors.Is(err, source.ErrUnavailable) || errors.Is(err, context.Canceled) {
				return fmt.Errorf("%w: %v", verifier.ErrUnchecked, err)
			}
			a.violation(KindMalformedBundle, leaf, nil, "%s: %v", bt.Path(), err)
			return nil
		}
		first := leaf % tiles.Width
		for i := range f.decoded {
			if err := a.entry(ctx, leaf+uint64(i), entries[first+uint64(i)], f.decoded[i]); err != nil {
				return err
			}
		}
		leaf = bi*tiles.Width + uint64(len(entries))
		if m.Progress != nil {
			m.Progress(leaf-start, size-start)
		}
		if leaf-lastSave >= m.SaveEvery && leaf < size {
			a.st.Size, a.st.Range, a.st.Edge = leaf, a.tree.Range(), a.tree.Edge()
			if err := m.saveState(a.st, a.idx, nil); err != nil {
				return err
			}
			lastSave = leaf
		}
	}
	a.st.Size, a.st.Range, a.st.Edge = size, a.tree.Range(), a.tree.Edge()
	if err := a.checkRoot(ctx); err != nil {
		return err
	}
	return a.checkIndex(ctx)
}

// fetched is a bundle read and decoded ahead of the sequential audit.
type fetched struct {
	bt      tiles.Tile
	entries [][]byte
	decoded []decodedEntry // from the first leaf still to audit
	err     error
}

// prefetch reads and decodes the bundles holding leaves [start, size) in
// order, a few ahead of the sequential audit, so that fetching and
// decoding overlap with it.
func (a *audit) prefetch(ctx context.Context, start, size uint64) <-chan fetched {
	out := make(chan fetched, 4)
	go func() {
		defer close(out)
		for leaf := start; leaf < size; {
			bi := leaf / tiles.Width
			bt := tiles.Bundle(bi, size)
			f := fetched{bt: bt}
			f.entries, f.err = source.FetchBundle(ctx, a.src, bt)
			if f.err == nil {
				f.decoded = decodeAll(a.rules, f.entries[leaf%tiles.Width:])
			}
			select {
			case out <- f:
			case <-ctx.Done():
				return
			}
			if f.err != nil {
				return
			}
			leaf = (bi + 1) * tiles.Width
		}
	}()
	return out
}

// decodedEntry is an entry decoded, with its leaf hash, off the
// sequential path.
type decodedEntry struct {
	e    entry.Entry
	err  error
	hash tiles.Hash
}

// decodeAll decodes and hashes a bundle's entries on all cores: decoding
// is most of an audit's work, and only what follows must be in order.
func decodeAll(rules *entry.Rules, raws [][]byte) []decodedEntry {
	out := make([]decodedEntry, len(raws))
	workers := min(runtime.GOMAXPROCS(0), len(raws))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h tiles.Hasher
			for i := w; i < len(raws); i += workers {
				out[i].e, out[i].err = rules.Decode(raws[i])
				out[i].hash = h.Leaf(raws[i])
			}
		}()
	}
	wg.Wait()
	return out
}

// entry audits one leaf against the rule and adds it to the tree.
func (a *audit) entry(ctx context.Context, leaf uint64, raw []byte, d decodedEntry) error {
	if err := a.tree.Append(d.hash); err != nil {
		return err
	}
	e, err := d.e, d.err
	if err != nil {
		a.violation(KindInvalidEntry, leaf, raw, "%v", err)
		return nil
	}
	if e.Code.Index != leaf {
		a.violation(KindCodeMismatch, leaf, raw, "entry %d carries %s, whose serial is index %d", leaf, e.Code, e.Code.Index)
	}
	if e.Time.Before(a.st.LastTime) {
		a.violation(KindTimeBackwards, leaf, raw, "integrated at %s, after an entry integrated at %s", e.Time, a.st.LastTime)
	} else {
		a.st.LastTime = e.Time
	}
	for _, id := range e.IDs {
		fp := fptable.Fingerprint(id)
		var holder uint64
		var other []byte
		var lookupErr error
		a.idx.Lookup(fp, func(cand uint64) bool {
			if cand >= leaf {
				return false // filed by a run that stopped before saving: not an earlier holder
			}
			raw, err := a.entryAt(ctx, cand)
			if err != nil {
				lookupErr = err
				return true
			}
			if d, err := a.rules.Decode(raw); err == nil && slices.Contains(d.IDs, id) {
				holder, other = cand, raw
				return true
			}
			return false
		})
		if lookupErr != nil {
			return lookupErr
		}
		if other != nil {
			a.vs = append(a.vs, Violation{Kind: KindIdentifierReused, Index: leaf, Entry: string(raw), Other: string(other),
				Detail: fmt.Sprintf("%s is already held by entry %d", id, holder), Checkpoint: string(a.cp.Signed)})
			continue
		}
		if err := a.idx.Insert(fp, leaf); err != nil {
			return err
		}
	}
	return nil
}

// entryAt re-reads an earlier entry, to confirm an identifier match.
func (a *audit) entryAt(ctx context.Context, leaf uint64) ([]byte, error) {
	bi := leaf / tiles.Width
	entries, ok := a.older[bi]
	if !ok {
		bt := tiles.Bundle(bi, a.cp.Size)
		var err error
		if entries, err = source.FetchBundle(ctx, a.src, bt); err != nil {
			return nil, fmt.Errorf("%w: %v", verifier.ErrUnchecked, err)
		}
		if len(a.older) > 64 {
			clear(a.older)
		}
		a.older[bi] = entries
	}
	if int(leaf%tiles.Width) >= len(entries) {
		return nil, fmt.Errorf("%w: entry %d missing from its bundle", verifier.ErrUnchecked, leaf)
	}
	return entries[leaf%tiles.Width], nil
}

// compareTile compares each tile recomputed from the entries, once
// complete, with the one the source serves.
func (a *audit) compareTile(t tiles.Tile, recomputed []byte) {
	first := t.Index * tiles.Width << (tiles.Height * uint(t.Level)) // the tile's first leaf
	served, err := a.src.Fetch(context.Background(), t.Path())
	switch {
	case err != nil:
		a.violation(KindMissingTile, first, nil, "%s: %v", t.Path(), err)
	case !bytes.Equal(served, recomputed):
		a.violation(KindTileMismatch, first, nil, "%s differs from the tile recomputed from the entries", t.Path())
	}
}

// checkRoot compares the root recomputed from every entry with the
// checkpoint's, and the recomputed partial tiles with the served ones.
func (a *audit) checkRoot(ctx context.Context) error {
	if root := a.tree.Root(); root != a.cp.Root {
		a.violation(KindRootMismatch, a.cp.Size, nil, "the entries hash to %s, the checkpoint says %s", b64(root[:]), b64(a.cp.Root[:]))
	}
	for _, t := range tiles.EdgeTiles(a.cp.Size) {
		if t.Level == tiles.EntriesLevel {
			continue
		}
		served, err := source.FetchTile(ctx, a.src, t)
		if err != nil {
			return fmt.Errorf("%w: %v", verifier.ErrUnchecked, err)
		}
		if !bytes.Equal(served, a.tree.EdgeTile(t.Level)) {
			a.violation(KindTileMismatch, a.cp.Size, nil, "%s differs from the tile recomputed from the entries", t.Path())
		}
	}
	return nil
}

// checkIndex checks the published identifier index, when it covers
// exactly the audited size and has changed since the last check: every
// line must name an entry holding the identifier (truthful), and there must
// be a line for every identifier (complete).
func (a *audit) checkIndex(ctx context.Context) error {
	mb, err := a.src.Fetch(ctx, idshard.MetaPath)
	if errors.Is(err, source.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %v", verifier.ErrUnchecked, err)
	}
	meta, err := idshard.ParseMeta(mb)
	if err != nil {
		a.violation(KindMalformedIndex, a.cp.Size, nil, "%v", err)
		return nil
	}
	if meta.Size != a.cp.Size || meta.Size == a.st.IndexAt {
		return nil // lagging (a hint may lag) or unchanged
	}
	// Shards are checked on all cores: the identifier store is only read.
	var mu sync.Mutex
	var lines uint64
	err = parallel.Each(ctx, 1<<meta.Bits, runtime.GOMAXPROCS(0), func(ctx context.Context, s int) error {
		n, vs, err := a.checkShard(ctx, meta, s)
		mu.Lock()
		defer mu.Unlock()
		lines += n
		a.vs = append(a.vs, vs...)
		return err
	})
	if err != nil {
		return err
	}
	if lines != a.idx.Len() {
		a.violation(KindIndexIncomplete, a.cp.Size, nil, "it lists %d of the log's %d identifiers", lines, a.idx.Len())
	}
	a.st.IndexAt = meta.Size
	return nil
}

// checkShard checks one shard; it returns the truthful lines it holds.
func (a *audit) checkShard(ctx context.Context, meta idshard.Meta, s int) (uint64, []Violation, error) {
	path := idshard.ShardPath(uint32(s), meta.Bits)
	b, err := a.src.Fetch(ctx, path)
	if errors.Is(err, source.ErrNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", verifier.ErrUnchecked, err)
	}
	var vs []Violation
	bad := func(index uint64, format string, args ...any) {
		vs = append(vs, Violation{Kind: KindIndexLies, Index: index, Detail: fmt.Sprintf(format, args...), Checkpoint: string(a.cp.Signed)})
	}
	ls, err := idshard.Parse(b)
	if err != nil {
		vs = append(vs, Violation{Kind: KindMalformedIndex, Index: a.cp.Size, Detail: fmt.Sprintf("%s: %v", path, err), Checkpoint: string(a.cp.Signed)})
		return 0, vs, nil
	}
	var lines uint64
	for _, l := range ls {
		if int(idshard.ShardIndex(l.ID, meta.Bits)) != s {
			bad(l.Leaf, "%s lists %s, which belongs in %s", path, l.ID, idshard.Shard(l.ID, meta.Bits))
			continue
		}
		found := false
		a.idx.Lookup(fptable.Fingerprint(l.ID), func(leaf uint64) bool { found = leaf == l.Leaf; return found })
		if !found {
			bad(l.Leaf, "%s says %s is held by entry %d, which does not hold it", path, l.ID, l.Leaf)
			continue
		}
		lines++
	}
	return lines, vs, nil
}
