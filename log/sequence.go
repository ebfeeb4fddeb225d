package log

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/citylog/citylog/internal/parallel"
	"github.com/citylog/citylog/internal/store"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/log/idindex"
	"github.com/citylog/citylog/log/idpublish"
	"github.com/citylog/citylog/log/idshard"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
)

// request is a normalised request with its entry's fields already
// encoded (entry.Request.AppendFields), wherever there was a core to spare:
// sequencing, which runs on one core, then only assembles the entry.
type request struct {
	entry.Request
	fields []byte
	fps    []uint64 // the identifiers' idindex.Fingerprint, in order; nil if not yet computed (hashIDs)
	keys   []uint32 // the identifiers' idshard.Key, in order; set with fps
}

// hashIDs returns r's identifiers' fingerprints (for the dedup index)
// and keys (for the public identifier index), computing them if need be;
// Import computes them on all cores as it parses.
func (r *request) hashIDs() (fps []uint64, keys []uint32) {
	if r.fps == nil {
		r.fps, r.keys = make([]uint64, len(r.IDs)), make([]uint32, len(r.IDs))
		for i, id := range r.IDs {
			r.fps[i], r.keys[i] = idindex.Fingerprint(id), idshard.Key(id)
		}
	}
	return r.fps, r.keys
}

// prefetchAhead is how many requests' index slots are fetched into cache
// at once, ahead of sequencing them.
const prefetchAhead = 32

// prepare sequences normalised requests into a new batch: it answers
// duplicates from the dedup index, assigns leaf indices to the rest,
// integrates them into the tree and signs the checkpoint that will publish
// them. Nothing is written yet; commit does that.
//
// spare, if not nil, is a batch published and answered already, whose
// buffers the new batch may take over.
func (w *Writer) prepare(ctx context.Context, reqs []request, spare *batch) (*batch, error) {
	if err := w.checkFailed(); err != nil {
		return nil, err
	}
	b := &batch{stage: staging{start: w.tree.size}}
	if spare != nil {
		b.stage.entries, b.offsets, b.results = spare.stage.entries[:0], spare.offsets[:0], spare.results[:0]
	}
	b.results = slices.Grow(b.results, len(reqs))[:len(reqs)] // every element is set below
	if len(reqs) > 1 {
		// Sized from the last batch, so that a large batch grows no buffer.
		if n := len(reqs) * (w.sizeHint.entry + w.sizeHint.entry/8); cap(b.stage.entries) < n {
			b.stage.entries = make([]byte, 0, n)
		}
		b.offsets = slices.Grow(b.offsets, len(reqs))
		// The identifiers go on to the spool: never reused.
		b.ids = make([]byte, 0, len(reqs)*(w.sizeHint.ids+w.sizeHint.ids/8))
	}
	t := w.now().UTC().Truncate(time.Second)
	if t.Before(w.lastTime) {
		t = w.lastTime // integration times never decrease
	}
	ts := t.AppendFormat(nil, entry.TimeFormat)
	var ahead []uint64
	for i := range reqs {
		if i%prefetchAhead == 0 {
			ahead = ahead[:0]
			for j := i; j < min(i+prefetchAhead, len(reqs)); j++ {
				fps, _ := reqs[j].hashIDs()
				ahead = append(ahead, fps...)
			}
			w.idx.Prefetch(ahead)
		}
		res, err := w.sequence(ctx, b, &reqs[i], ts)
		if err != nil {
			return nil, w.fail(err)
		}
		b.results[i] = res
	}
	if b.stage.count > 0 {
		if err := w.integrate(b); err != nil {
			return nil, w.fail(err)
		}
		w.sizeHint.entry = len(b.stage.entries) / int(b.stage.count)
		w.sizeHint.ids = len(b.ids) / int(b.stage.count)
		w.lastTime = t
		b.time = t
		if err := w.sign(b); err != nil {
			return nil, w.fail(err)
		}
	}
	b.size = w.tree.size
	w.mu.Lock()
	w.inflight = append(w.inflight, b)
	w.mu.Unlock()
	return b, nil
}

// sequence answers one request within batch b: with the code already
// holding one of its identifiers, or by staging a new entry at the next
// index. The tree takes the new entries later, in integrate.
func (w *Writer) sequence(ctx context.Context, b *batch, req *request, ts []byte) (Result, error) {
	var held *entry.Entry
	var heldBy string // the identifier that found held
	fps, keys := req.hashIDs()
	for i, id := range req.IDs {
		e, err := w.holder(ctx, b, id, fps[i])
		if err != nil {
			return Result{}, err
		}
		if e == nil {
			continue
		}
		if held != nil && held.Code != e.Code {
			return Result{Err: fmt.Errorf("%w: %s is held by %s (%s) but %s by %s (%s): one request is one city; submit them separately",
				ErrConflict, heldBy, held.Code, held.Name, id, e.Code, e.Name)}, nil
		}
		if held == nil {
			held, heldBy = e, id
		}
	}
	if held == nil {
		return w.stage(b, req, fps, keys, ts)
	}
	// One slip must never tell a city it holds another's code: an
	// identifier of a city of another country is a conflict, not an
	// answer.
	if held.Country != req.Country {
		return Result{Err: fmt.Errorf("%w: %s is held by %s (%s), a city of %s, not %s: check the identifier",
			ErrConflict, heldBy, held.Code, held.Name, held.Country, req.Country)}, nil
	}
	return Result{Code: held.Code, Index: held.Code.Index, Existing: true, Differs: differences(held, &req.Request)}, nil
}

// differences returns where a request differs from the entry that
// answers it, or nil.
func differences(e *entry.Entry, req *entry.Request) *Differences {
	var d Differences
	if req.Name != e.Name {
		d.Name = req.Name
	}
	if req.Subdivision != e.Subdivision {
		d.Subdivision = req.Subdivision
	}
	for _, id := range req.IDs {
		if !slices.Contains(e.IDs, id) {
			d.IDs = append(d.IDs, id)
		}
	}
	if d.Name == "" && d.Subdivision == "" && d.IDs == nil {
		return nil
	}
	return &d
}

// stage stages req as a new entry at the next index of b.
func (w *Writer) stage(b *batch, req *request, fps []uint64, keys []uint32, ts []byte) (Result, error) {
	code := idcode.Code{Country: req.Country, Subdivision: req.Subdivision, Index: b.stage.start + b.stage.count}
	if req.fields == nil {
		req.fields = req.AppendFields(nil)
	}
	off := len(b.stage.entries)
	if err := b.stage.addWith(func(dst []byte) []byte { return entry.AppendEntry(dst, code, req.fields, ts) }); err != nil {
		return Result{}, err
	}
	b.offsets = append(b.offsets, off)
	for i, id := range req.IDs {
		if err := w.idx.Insert(fps[i], code.Index); err != nil {
			return Result{}, err
		}
		b.ids = idpublish.AppendRecord(b.ids, keys[i], id, code.Index)
	}
	return Result{Code: code, Index: code.Index}, nil
}

// integrate adds the batch's new entries to the tree, hashing their
// leaves on all cores.
func (w *Writer) integrate(b *batch) error {
	n := len(b.offsets)
	hashes := make([]tiles.Hash, n)
	workers := min(runtime.GOMAXPROCS(0), 1+n/512)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h tiles.Hasher
			for i := k * n / workers; i < (k+1)*n/workers; i++ {
				hashes[i] = h.Leaf(b.staged(i))
			}
		}()
	}
	wg.Wait()
	// The tree before the batch and the batch's leaves are what its
	// receipts are proven from (BatchReceipts), without reading a tile.
	b.prefix, b.leaves = w.tree.rightEdge(), hashes
	return w.tree.appendHashes(hashes)
}

// holder returns the entry that holds identifier id (of fingerprint fp),
// or nil. Index hits
// are only candidates: each is confirmed against the entry itself.
func (w *Writer) holder(ctx context.Context, b *batch, id string, fp uint64) (*entry.Entry, error) {
	var found *entry.Entry
	var err error
	w.idx.Lookup(fp, func(leaf uint64) bool {
		var e entry.Entry
		e, err = w.entryAt(ctx, b, leaf)
		if errors.Is(err, errNoEntry) {
			err = nil // a slot left by a batch a crash discarded
			return false
		}
		if err != nil {
			return true
		}
		if slices.Contains(e.IDs, id) {
			found = &e
			return true
		}
		return false
	})
	return found, err
}

var errNoEntry = errors.New("no such entry")

// entryAt returns the entry at leaf, from the batch being prepared, a
// batch being published, or the public tree.
func (w *Writer) entryAt(ctx context.Context, b *batch, leaf uint64) (entry.Entry, error) {
	raw, ok := []byte(nil), false
	if b != nil {
		raw, ok = b.entry(leaf)
	}
	w.mu.Lock()
	for _, f := range w.inflight {
		if !ok {
			raw, ok = f.entry(leaf)
		}
	}
	durable := w.durable
	w.mu.Unlock()
	if !ok {
		if leaf >= durable {
			return entry.Entry{}, errNoEntry
		}
		var err error
		if raw, err = w.durableEntry(ctx, leaf, durable); err != nil {
			return entry.Entry{}, err
		}
	}
	e, err := w.rules.Decode(raw)
	if err != nil {
		return entry.Entry{}, fmt.Errorf("entry %d in the log is invalid: %w", leaf, err)
	}
	if e.Code.Index != leaf {
		return entry.Entry{}, fmt.Errorf("entry %d in the log carries code %s of index %d", leaf, e.Code, e.Code.Index)
	}
	return e, nil
}

// durableEntry reads a published entry from its bundle.
func (w *Writer) durableEntry(ctx context.Context, leaf, size uint64) ([]byte, error) {
	bi := leaf / tiles.Width
	entries, ok := w.cache[bi]
	if !ok {
		var err error
		if entries, err = readBundle(ctx, w.store, bi, size); err != nil {
			return nil, err
		}
		if len(entries) == tiles.Width {
			if len(w.cache) >= 64 {
				clear(w.cache)
			}
			w.cache[bi] = entries
		}
	}
	return entries[leaf%tiles.Width], nil
}

// sign cuts the batch's files and signs the checkpoint for the new size.
func (w *Writer) sign(b *batch) error {
	w.tree.addBundles(b.stage.entries, b.offsets, b.stage.start)
	b.files = w.tree.cut()
	cp := tiles.Checkpoint{Origin: w.origin, Size: w.tree.size, Root: w.tree.root()}
	signed, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, w.signer)
	if err != nil {
		return fmt.Errorf("couldn't sign checkpoint: %w", err)
	}
	b.checkpoint, b.size, b.edge, b.root = signed, w.tree.size, w.tree.rightEdge(), cp.Root
	return nil
}

// commit publishes a prepared batch in the order the package doc gives.
// Batches must be committed in the order they were prepared.
func (w *Writer) commit(ctx context.Context, b *batch) error {
	if err := w.checkFailed(); err != nil {
		return err
	}
	if b.stage.count > 0 {
		if err := w.publish(ctx, b); err != nil {
			return w.fail(err)
		}
	}
	w.mu.Lock()
	w.durable = b.size
	if b.stage.count > 0 {
		w.published = b.checkpoint
		w.ids.Add(b.ids)
	}
	b.signed = w.published
	w.inflight = slices.DeleteFunc(w.inflight, func(x *batch) bool { return x == b })
	w.mu.Unlock()
	w.ids.SpillIfFull() // outside the lock: Status and Prepare need not wait for it
	return nil
}

func (w *Writer) publish(ctx context.Context, b *batch) error {
	if err := w.stager.write(&b.stage); err != nil {
		return err
	}
	// On shared storage, the commit point between writers: a writer that
	// lost the log stops here, before writing anything public.
	if err := w.claimBatch(ctx, b.stage.start, b.size); err != nil {
		return err
	}
	if err := w.createFiles(ctx, b.files); err != nil {
		return err
	}
	if err := w.store.Sync(ctx); err != nil {
		return fmt.Errorf("couldn't make tiles durable: %w", err)
	}
	if w.witnesses != nil {
		// Witnesses check consistency against tiles that are now durable;
		// the checkpoint is published only with their cosignatures.
		cosigned, err := w.witnesses.Cosign(ctx, b.checkpoint, b.size, func(old uint64) ([]tiles.Hash, error) {
			return tiles.ConsistencyProof(ctx, storageReader{w.store}, old, b.size)
		})
		if err != nil {
			return fmt.Errorf("couldn't publish checkpoint: %w", err)
		}
		b.checkpoint = cosigned
	}
	if err := publishCheckpoint(ctx, w.store, b.checkpoint, b.edge); err != nil {
		return err
	}
	w.collectPartials(ctx, b.files)
	return nil
}

// collectPartials removes the partial tiles and bundles that the full ones
// of a published batch replace: tlog-tiles lets a log delete them once
// the full tile exists, and a reader missing one uses the first hashes of
// the full tile. Without it, a batch every few milliseconds leaves most of
// the tree's files partial (2,083 of 2,509 tile files, about three times
// the entry data, in one measured run). It runs after the checkpoint is
// published: a reader of the previous checkpoint finds the full tile. A
// failure leaves only disk space behind.
func (w *Writer) collectPartials(ctx context.Context, files []file) {
	var full []string
	for _, f := range files {
		if f.tile.Full() {
			full = append(full, f.tile.Path()+".p")
		}
	}
	parallel.Each(ctx, len(full), w.workers, func(ctx context.Context, i int) error {
		w.store.RemoveAll(ctx, full[i])
		return nil
	})
}

// publishCheckpoint publishes a batch's signed checkpoint, then its edge
// file, each by compare-and-swap. The checkpoint goes first because it is
// the commit point between writers: a writer that a takeover fenced off,
// or that another overtook, fails here before its checkpoint is visible
// anywhere. The edge file holds a signed checkpoint too (and verifiers
// read it first), so it is written only once that checkpoint is
// published, and only over the edge this writer last saw: a writer that
// stalls between the two cannot roll the edge back over a newer writer's.
// (The edge used to go first: then a stalled old writer could still show
// readers a checkpoint it never published, over tiles a takeover had
// removed: a fork signed by the log.) A crash between the two leaves the
// edge one batch behind: readers see the older checkpoint, consistent,
// until Open's repairEdge or the next batch.
func publishCheckpoint(ctx context.Context, s Storage, signed []byte, edge []tiles.Hash) error {
	if err := s.SwapFile(ctx, CheckpointPath, signed); err != nil {
		return fmt.Errorf("couldn't publish checkpoint: %w", err)
	}
	if err := s.SwapFile(ctx, tiles.EdgePath, tiles.Edge{Checkpoint: signed, Hashes: edge}.Marshal()); err != nil {
		return fmt.Errorf("couldn't publish %s: %w", tiles.EdgePath, err)
	}
	return nil
}

// createFiles writes files with up to w.workers at once.
func (w *Writer) createFiles(ctx context.Context, files []file) error {
	return parallel.Each(ctx, len(files), w.workers, func(ctx context.Context, i int) error {
		path := files[i].tile.Path()
		err := w.store.CreateFile(ctx, path, files[i].data)
		if errors.Is(err, store.ErrImmutable) && w.replaceLeftover(path) {
			if err = w.store.RemoveFile(ctx, path); err == nil {
				err = w.store.CreateFile(ctx, path, files[i].data)
			}
		}
		if err != nil {
			return fmt.Errorf("couldn't write %s: %w", path, err)
		}
		return nil
	})
}
