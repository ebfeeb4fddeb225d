package log

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/log/idindex"
	"github.com/citylog/citylog/log/idpublish"
	"github.com/citylog/citylog/log/witnessclient"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
)

// Config says where a log is and how to run its writer.
type Config struct {
	Dir   string           // the log directory made by Init
	Store Storage          // the public tree; nil means the directory Dir/public
	Now   func() time.Time // the clock; nil means time.Now
	// Workers is how many tile and bundle files are written at once; the
	// default suits local disks and object stores alike.
	Workers int
	// IDIndex tunes the publication of the identifier index (its scratch
	// files go to state/ unless it says otherwise).
	IDIndex idpublish.Options
	// TakeoverWait is how long a writer taking over a log on shared
	// storage waits for an old writer that might still be publishing
	// (default DefaultTakeoverWait; see claim.go).
	TakeoverWait time.Duration
}

// Result is the answer to one request.
type Result struct {
	Code     idcode.Code
	Index    uint64
	Existing bool         // an identifier was already held: this is that city's code
	Differs  *Differences // with Existing: where the request differs from the entry, if it does
	Err      error        // the request was refused; wraps entry.ErrInvalid or ErrConflict
}

// Differences are where a resubmitted request differs from the entry
// that answers it. The entry never changes (the log is append-only), so
// they are reported, never dropped silently.
type Differences struct {
	Name        string   `json:"name,omitempty"`        // the request's name, where the entry has another
	Subdivision string   `json:"subdivision,omitempty"` // the request's subdivision, where the entry has another
	IDs         []string `json:"ids,omitempty"`         // the request's identifiers the entry does not list
}

// String says the differences in a sentence, for people.
func (d *Differences) String() string {
	var parts []string
	if d.Name != "" {
		parts = append(parts, fmt.Sprintf("the request's name %q", d.Name))
	}
	if d.Subdivision != "" {
		parts = append(parts, fmt.Sprintf("subdivision %s", d.Subdivision))
	}
	if len(d.IDs) > 0 {
		parts = append(parts, "identifiers "+strings.Join(d.IDs, ", "))
	}
	return strings.Join(parts, ", ") + " are not in the entry"
}

// ErrConflict means a request's identifiers are held by two different
// codes, or by a city of another country: nothing was written.
var ErrConflict = errors.New("identifiers belong to another city")

// Writer is the log's single writer. Its methods must not be called
// concurrently; Import overlaps its own stages internally.
type Writer struct {
	state     string
	store     Storage
	signer    note.Signer
	verifier  note.Verifier
	origin    string
	rules     *entry.Rules
	unlock    func() error
	idx       *idindex.Stack
	tree      *tree
	lastTime  time.Time
	now       func() time.Time
	workers   int
	sizeHint  struct{ entry, ids int } // bytes per new entry in the last batch
	cache     map[uint64][][]byte      // parsed full bundles, for confirming dedup hits
	witnesses *witnessclient.Client    // nil: publish without cosignatures
	stager    stager
	writerID  string // on shared storage: this writer's name in its claims (claim.go); "" otherwise
	// leftover holds the paths a takeover removed, which the fenced-off
	// old writer may still write late, until the log is past leftoverTo
	// (claim.go: replaceLeftover).
	leftover   map[string]bool
	leftoverTo uint64

	mu        sync.Mutex
	durable   uint64   // size of the last published checkpoint
	published []byte   // that checkpoint, signed
	inflight  []*batch // prepared batches not yet published
	failed    error    // once set, the writer refuses all work

	// ids publishes the identifier index; it holds the identifiers
	// published since the index was last brought up to date.
	ids *idpublish.Publisher
}

// batch is one prepared group of requests: its staged entries, the files
// and checkpoint that publish it, and the answers to give once published.
type batch struct {
	stage      staging
	ids        []byte // the new entries' identifier records (appendRecord), for the public index
	offsets    []int  // where each staged entry starts in stage.entries
	files      []file
	checkpoint []byte
	edge       []tiles.Hash // the tree's right edge at size, for the edge file
	size       uint64
	time       time.Time // the new entries' integration time
	results    []Result
	// For the receipts of the batch's new entries: the compact range of
	// the tree before them, their leaf hashes, and the root they give.
	prefix, leaves []tiles.Hash
	root           tiles.Hash
	// signed is the checkpoint that published the batch (cosigned, if
	// witnesses are configured), or the one in force when a batch of no
	// new entry was committed; nil until then.
	signed []byte
}

// newEntries returns the batch's new entries, in index order, from the
// requests it was prepared with: each one the batch staged as new (not
// refused, not answered by an existing code) is the entry's request, as
// normalized and encoded.
func (b *batch) newEntries(reqs []request) []entry.Entry {
	out := make([]entry.Entry, 0, b.stage.count)
	for i, res := range b.results {
		if res.Err == nil && !res.Existing {
			out = append(out, entry.Entry{Request: reqs[i].Request, Code: res.Code, Time: b.time})
		}
	}
	return out
}

// entry returns the staged entry for leaf, if this batch holds it.
func (b *batch) entry(leaf uint64) ([]byte, bool) {
	if leaf < b.stage.start || leaf >= b.stage.start+uint64(len(b.offsets)) {
		return nil, false
	}
	return b.staged(int(leaf - b.stage.start)), true
}

// staged returns the batch's i-th new entry.
func (b *batch) staged(i int) []byte {
	off := b.offsets[i]
	n := int(b.stage.entries[off])<<8 | int(b.stage.entries[off+1])
	return b.stage.entries[off+2 : off+2+n]
}

// Open takes the log's lock and loads it, finishing a batch that a crash
// interrupted and rebuilding the dedup index if it is missing or stale.
func Open(ctx context.Context, cfg Config) (w *Writer, err error) {
	state := filepath.Join(cfg.Dir, StateDir)
	if _, err := os.Stat(filepath.Join(state, keyFile)); err != nil {
		return nil, fmt.Errorf("%w: %s has no %s (run citylog init first)", ErrNotInitialized, cfg.Dir, filepath.Join(StateDir, keyFile))
	}
	unlock, err := durable.Lock(filepath.Join(state, lockFile))
	if err != nil {
		return nil, fmt.Errorf("couldn't open %s for writing (only one writer may run on a log): %w", cfg.Dir, err)
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	w = &Writer{state: state, store: cfg.Store, unlock: unlock, now: cfg.Now, workers: cfg.Workers, cache: map[uint64][][]byte{},
		stager: stager{dir: state}}
	if w.now == nil {
		w.now = time.Now
	}
	if w.workers <= 0 {
		w.workers = 4
	}
	if w.store == nil {
		ds, err := dirstore.New(filepath.Join(cfg.Dir, PublicDir))
		if err != nil {
			return nil, err
		}
		// Temporary files a crash left behind: only disk space, but a
		// full disk is what the writer must survive.
		if _, err := ds.RemoveTemps(); err != nil {
			return nil, fmt.Errorf("couldn't clear temporary files: %w", err)
		}
		w.store = ds
	}
	if _, err := durable.RemoveTemps(state); err != nil {
		return nil, fmt.Errorf("couldn't clear temporary files: %w", err)
	}
	if w.signer, w.verifier, err = readKeys(state); err != nil {
		return nil, err
	}
	w.origin = w.signer.Name()
	if w.rules, err = loadRules(ctx, w.store); err != nil {
		return nil, err
	}
	wcfg, err := witnessclient.Load(filepath.Join(state, WitnessesFile))
	if err != nil {
		return nil, err
	}
	if wcfg != nil && len(wcfg.Witnesses) > 0 {
		if w.witnesses, err = witnessclient.New(*wcfg); err != nil {
			return nil, err
		}
	}
	var claimed *claim
	if isShared(w.store) {
		if w.writerID, err = writerID(state); err != nil {
			return nil, err
		}
		// Read before anything is claimed: it says whether a batch was
		// being applied when the last writer stopped.
		if claimed, err = w.readClaim(ctx); err != nil {
			return nil, err
		}
	}
	if err := w.load(ctx); err != nil {
		return nil, err
	}
	if w.writerID != "" {
		wait := cfg.TakeoverWait
		if wait <= 0 {
			wait = DefaultTakeoverWait
		}
		if err := w.takeOver(ctx, claimed, wait); err != nil {
			return nil, err
		}
	}
	ids := cfg.IDIndex
	if ids.ScratchDir == "" {
		ids.ScratchDir = state
	}
	w.ids = idpublish.New(w.store, w.rules, w.durable, ids)
	// The first layout of the identifier index kept a mark of its splits
	// here; the index now needs none.
	os.Remove(filepath.Join(state, "ids-split"))
	if err := w.openIndex(ctx); err != nil {
		return nil, err
	}
	if w.durable > 0 {
		last, err := w.entryAt(ctx, nil, w.durable-1)
		if err != nil {
			w.idx.Close()
			return nil, err
		}
		w.lastTime = last.Time
	}
	return w, nil
}

// loadRules reads the validation rules, with the operator's extra
// subdivisions from the public tree.
func loadRules(ctx context.Context, s Storage) (*entry.Rules, error) {
	rules := entry.DefaultRules()
	extra, err := s.ReadFile(ctx, ExtraSubdivsPath)
	if errors.Is(err, fs.ErrNotExist) {
		return rules, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read %s: %w", ExtraSubdivsPath, err)
	}
	if err := rules.ParseExtraSubdivisions(extra); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", PublicDir, ExtraSubdivsPath, err)
	}
	return rules, nil
}

// readCheckpoint reads and verifies the published checkpoint.
func readCheckpoint(ctx context.Context, s Storage, v note.Verifier) (tiles.Checkpoint, []byte, error) {
	data, err := s.ReadFile(ctx, CheckpointPath)
	if err != nil {
		return tiles.Checkpoint{}, nil, fmt.Errorf("couldn't read the checkpoint: %w", err)
	}
	n, err := note.Open(data, note.VerifierList(v))
	if err != nil {
		return tiles.Checkpoint{}, nil, corrupt(fmt.Errorf("%s/%s does not verify under the log's key %s: %w", PublicDir, CheckpointPath, v.Name(), err))
	}
	cp, _, err := tiles.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return tiles.Checkpoint{}, nil, corrupt(fmt.Errorf("%s/%s: %w", PublicDir, CheckpointPath, err))
	}
	if cp.Origin != v.Name() {
		return tiles.Checkpoint{}, nil, corrupt(fmt.Errorf("checkpoint origin %q is not the log's %q", cp.Origin, v.Name()))
	}
	return cp, data, nil
}

// Origin returns the log's origin, which is also its key name.
func (w *Writer) Origin() string { return w.origin }

// VerifierKey returns the note verifier key of the log.
func (w *Writer) VerifierKey() string {
	b, _ := os.ReadFile(filepath.Join(w.state, vkeyFile))
	return string(trimNL(b))
}

// Rules returns the validation rules the writer applies.
func (w *Writer) Rules() *entry.Rules { return w.rules }

// Size returns the size of the last published checkpoint.
func (w *Writer) Size() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable
}

// Close releases the log. After a clean run the dedup index is marked
// complete, so the next Open does not rebuild it.
func (w *Writer) Close() error {
	err := w.closeDedup()
	if uerr := w.unlock(); err == nil {
		err = uerr
	}
	return err
}

// PublishIDIndex brings the public identifier index (package idpublish)
// up to the published log size, so that cityverify find can locate a
// code by identifier. It may run while prepared batches are published,
// not alongside Prepare, Allocate or Import.
func (w *Writer) PublishIDIndex(ctx context.Context) error {
	size, sp := w.takeIDs()
	return w.ids.Publish(ctx, size, sp, w.idx.Len())
}

// takeIDs returns the published size and the identifiers the index lacks
// up to it, taken together so that none is counted in the wrong size.
func (w *Writer) takeIDs() (uint64, *idpublish.Spool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.durable, w.ids.Take(w.durable)
}

// Finish brings the identifier index up to date (PublishIDIndex) and
// closes the log, saving the dedup index meanwhile: the two write
// different files, so a command that ends with both waits for the
// longer of them, not for their sum. The first error wins.
func (w *Writer) Finish(ctx context.Context) error {
	size, sp := w.takeIDs()
	identifiers := w.idx.Len() // before the dedup index closes
	published := make(chan error, 1)
	go func() { published <- w.ids.Publish(ctx, size, sp, identifiers) }()
	cerr := w.closeDedup()
	err := <-published
	if err == nil {
		err = cerr
	}
	if uerr := w.unlock(); err == nil {
		err = uerr
	}
	return err
}

// closeDedup closes the dedup index, saving it after a clean run, and
// drops the lines waiting for the identifier index.
func (w *Writer) closeDedup() error {
	w.mu.Lock()
	failed, inflight, size := w.failed, len(w.inflight), w.durable
	w.ids.Close()
	w.mu.Unlock()
	if failed == nil && inflight == 0 {
		return w.idx.CloseClean(size)
	}
	return w.idx.Close()
}

func (w *Writer) fail(err error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed == nil || Permanent(err) && !Permanent(w.failed) {
		if Permanent(err) {
			w.failed = fmt.Errorf("the writer stopped: evidence that the log's files were changed; look before writing more: %w", err)
		} else {
			w.failed = fmt.Errorf("the writer stopped after an error (transient; Recover or a reopen resumes): %w", err)
		}
	}
	return err
}

func (w *Writer) checkFailed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// Allocate validates, deduplicates and publishes a batch of requests.
// It returns once the checkpoint covering every new allocation is
// durably published; a per-request refusal is in that request's Result.
func (w *Writer) Allocate(ctx context.Context, reqs []entry.Request) ([]Result, error) {
	b, err := w.Prepare(ctx, reqs)
	if err != nil {
		return nil, err
	}
	return w.Publish(ctx, b)
}

// Batch is a group of requests sequenced by Prepare and not yet published.
type Batch struct {
	b       *batch
	results []Result // refusals by validation, in request order
	pos     []int    // request position of each of b.results
}

// Prepare validates requests and sequences the valid ones into a batch:
// codes are assigned and the checkpoint signed, but nothing is written
// and nothing may be reported yet. A server prepares the next batch while
// the previous one is being published: Prepare calls must come from one
// goroutine, and batches must be published in the order prepared.
func (w *Writer) Prepare(ctx context.Context, reqs []entry.Request) (*Batch, error) {
	valid := make([]request, 0, len(reqs))
	out := &Batch{results: make([]Result, len(reqs))}
	for i := range reqs {
		r := reqs[i]
		r.IDs = append([]string(nil), r.IDs...)
		if err := w.rules.Normalize(&r); err != nil {
			out.results[i].Err = err
			continue
		}
		valid = append(valid, request{Request: r})
		out.pos = append(out.pos, i)
	}
	b, err := w.prepare(ctx, valid, nil)
	if err != nil {
		return nil, err
	}
	out.b = b
	return out, nil
}

// Publish writes a prepared batch and returns the answers to its requests
// once the checkpoint that covers them is durably published.
func (w *Writer) Publish(ctx context.Context, b *Batch) ([]Result, error) {
	if err := w.commit(ctx, b.b); err != nil {
		return nil, err
	}
	for k, i := range b.pos {
		b.results[i] = b.b.results[k]
	}
	return b.results, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
