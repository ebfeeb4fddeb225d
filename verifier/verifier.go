// Package verifier checks a log it does not trust: every checkpoint, tile,
// bundle and receipt it reads is checked against the log's public key
// before anything is reported as verified. It reads any C2SP tlog-tiles
// log; for citylog logs it also checks each entry against the allocation
// rule. It never imports the writer (package log): a city installs the
// verifier only.
package verifier

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"golang.org/x/mod/sumdb/note"
)

// The three ways a check can end other than success. Every error this
// package returns wraps exactly one of them (source errors wrap
// source.ErrUnavailable or source.ErrNotFound, which are ErrUnchecked).
var (
	// ErrFailed means the log or a document did not check out: a bad
	// signature, a proof that does not verify, an entry that breaks the
	// rules. It is evidence against the log or the mirror.
	ErrFailed = errors.New("verification failed")
	// ErrInput means the caller's input is wrong (a malformed code, key or
	// file): nothing was checked.
	ErrInput = errors.New("invalid input")
	// ErrUnchecked means the check could not be done: the source could not
	// be reached or lacks a file.
	ErrUnchecked = errors.New("could not check")
)

func failed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrFailed}, args...)...)
}

// fetchFailed is the verdict on what src did not serve well: a file it
// lacks or that could not be reached is unchecked; anything else (a
// malformed file) failed, saying what it was and from where.
func fetchFailed(err error, what string, src source.Source) error {
	if errors.Is(err, source.ErrNotFound) || errors.Is(err, source.ErrUnavailable) {
		return unchecked(err)
	}
	return failed("%s from %s: %v", what, src, err)
}

// unchecked marks source errors as ErrUnchecked, keeping their text.
func unchecked(err error) error {
	if err == nil || errors.Is(err, ErrFailed) || errors.Is(err, ErrInput) || errors.Is(err, ErrUnchecked) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnchecked, err)
}

// Log is a log read through an untrusted source.
type Log struct {
	src    source.Source
	key    note.Verifier
	policy Policy
	noEdge atomic.Bool // the source has no usable edge file: fetch "checkpoint"

	rulesMu sync.Mutex
	rules   *entry.Rules // the log's published rules, once read (Rules)
}

// New returns a Log read from src and trusted under key, whose
// checkpoints must also satisfy the witness policy, if one is given.
func New(src source.Source, key note.Verifier, policy ...Policy) *Log {
	l := &Log{src: src, key: key}
	if len(policy) > 0 {
		l.policy = policy[0]
	}
	return l
}

// Key returns the log's verifier key.
func (l *Log) Key() note.Verifier { return l.key }

// Source returns where the log is read from.
func (l *Log) Source() source.Source { return l.src }

// Checkpoint fetches and verifies the log's current checkpoint. A citylog
// log publishes it together with its tree's right edge (tiles.EdgePath),
// which saves inclusion proofs one request per tile level at the edge;
// from a source without that file it reads the plain checkpoint.
func (l *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	if !l.noEdge.Load() {
		b, err := l.src.Fetch(ctx, tiles.EdgePath)
		switch {
		case err == nil && tiles.IsEdge(b):
			return l.openEdge(b)
		case err == nil || errors.Is(err, source.ErrNotFound) || errors.Is(err, source.ErrRefused):
			// Not there, or not an edge file at all (a host that answers
			// a missing file with a page, or with 403 as S3 does): any
			// tlog-tiles log still has its checkpoint.
			l.noEdge.Store(true)
		default: // unreachable or too slow: so would the checkpoint be
			return Checkpoint{}, unchecked(fmt.Errorf("couldn't fetch %s from %s: %w", tiles.EdgePath, l.src, err))
		}
	}
	b, err := l.src.Fetch(ctx, "checkpoint")
	if err != nil {
		return Checkpoint{}, unchecked(fmt.Errorf("couldn't fetch checkpoint from %s: %w", l.src, err))
	}
	return OpenCheckpoint(b, l.key, l.policy)
}

// openEdge verifies an edge file: its checkpoint like any other, then its
// hashes against the signed root. A file that claims to be an edge is held
// to it, whatever a plain checkpoint from the same source would say.
func (l *Log) openEdge(b []byte) (Checkpoint, error) {
	e, err := tiles.ParseEdge(b)
	if err != nil {
		return Checkpoint{}, failed("%s from %s: %v", tiles.EdgePath, l.src, err)
	}
	cp, err := OpenCheckpoint(e.Checkpoint, l.key, l.policy)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%s from %s: %w", tiles.EdgePath, l.src, err)
	}
	if err := e.Check(cp.Checkpoint); err != nil {
		return Checkpoint{}, failed("%s from %s: the right edge served with the signed checkpoint is wrong: %v", tiles.EdgePath, l.src, err)
	}
	cp.edge = e.Hashes
	return cp, nil
}

// Inclusion is a leaf proven to be in a checkpoint's tree.
type Inclusion struct {
	Index uint64
	Entry []byte
	Proof []tiles.Hash
	Checkpoint
}

// ProveInclusion fetches leaf index's entry and proves it is in cp's tree.
// The leaf hash is computed from the entry bytes, never taken from a tile.
// The bundle and the tiles the proof needs are fetched at once: neither
// depends on the other, and over a network each is a round trip.
func (l *Log) ProveInclusion(ctx context.Context, cp Checkpoint, index uint64) (Inclusion, error) {
	if index >= cp.Size {
		return Inclusion{}, failed("index %d is not in the log (tree size %d)", index, cp.Size)
	}
	bt := tiles.BundleOf(index, cp.Size)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := fetchBundle(ctx, l.src, bt)
	read := &recordingReader{next: source.Tiles{Source: l.src}}
	p, err := cp.prover(knownTiles{level0: tiles.Tile{Level: 0, Index: bt.Index, Width: bt.Width}, bundle: b, next: read})
	if err != nil {
		return Inclusion{}, failed("%v", err)
	}
	proof, proofErr := p.InclusionProof(ctx, index, cp.Size)
	// The bundle's error comes first, as if it had been fetched first.
	<-b.done
	if b.err != nil {
		return Inclusion{}, fetchFailed(b.err, "entry bundle", l.src)
	}
	if proofErr != nil {
		return Inclusion{}, fetchFailed(proofErr, "tiles", l.src)
	}
	e := b.entries[index%tiles.Width]
	leaf := tiles.HashLeaf(e)
	if err := tiles.VerifyInclusion(index, cp.Size, leaf[:], tiles.HashSlices(proof), cp.Root[:]); err != nil {
		served := append([]servedTile{{bt.Path(), 0, bt.Index, tiles.DecodeHashes(b.level0)}}, read.read...)
		if culprit := blame(cp, served); culprit != "" {
			return Inclusion{}, failed("entry %d as served by %s is not in the signed tree: %s", index, l.src, culprit)
		}
		return Inclusion{}, failed("entry %d as served by %s is not in the signed tree: %v", index, l.src, err)
	}
	return Inclusion{Index: index, Entry: e, Proof: proof, Checkpoint: cp}, nil
}

// pendingBundle is an entry bundle being fetched, and once done is
// closed, its entries and their leaf hashes (the level-0 tile the bundle
// stands for: computing it saves a request, and the mirror's copy of that
// tile is not needed to check), or the error.
type pendingBundle struct {
	done    chan struct{}
	entries [][]byte
	level0  []byte
	err     error
}

func fetchBundle(ctx context.Context, src source.Source, bt tiles.Tile) *pendingBundle {
	b := &pendingBundle{done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.entries, b.err = source.FetchBundle(ctx, src, bt)
		if b.err != nil {
			return
		}
		b.level0 = make([]byte, 0, len(b.entries)*tiles.HashSize)
		var h tiles.Hasher
		for _, raw := range b.entries {
			lh := h.Leaf(raw)
			b.level0 = append(b.level0, lh[:]...)
		}
	}()
	return b
}

// ProveConsistency proves that old's tree is a prefix of cur's. On
// failure it returns the evidence, which holds both signed checkpoints.
func (l *Log) ProveConsistency(ctx context.Context, old, cur Checkpoint) ([]tiles.Hash, *Evidence, error) {
	if old.Origin != cur.Origin {
		return nil, nil, fmt.Errorf("%w: checkpoints of different logs (%q, %q)", ErrInput, old.Origin, cur.Origin)
	}
	if old.Size > cur.Size {
		ev := &Evidence{Reason: fmt.Sprintf("the log shrank from size %d to %d", old.Size, cur.Size), Old: old.Signed, New: cur.Signed}
		return nil, ev, failed("%s", ev.Reason)
	}
	p, err := cur.prover(source.Tiles{Source: l.src})
	if err != nil {
		return nil, nil, failed("%v", err)
	}
	proof, err := p.ConsistencyProof(ctx, old.Size, cur.Size)
	if err != nil {
		return nil, nil, fetchFailed(err, "tiles", l.src)
	}
	if err := tiles.VerifyConsistency(old.Size, cur.Size, tiles.HashSlices(proof), old.Root[:], cur.Root[:]); err != nil {
		ev := &Evidence{Reason: err.Error(), Old: old.Signed, New: cur.Signed, Proof: proof}
		return nil, ev, failed("checkpoint of size %d is not consistent with the one of size %d: %v", cur.Size, old.Size, err)
	}
	return proof, nil, nil
}

// knownTiles serves the level-0 tile of the bundle being fetched from its
// leaf hashes, and reads the rest meanwhile.
type knownTiles struct {
	level0 tiles.Tile
	bundle *pendingBundle
	next   tiles.TileReader
}

// errNoBundle stands for the bundle's own error, which ProveInclusion
// reports first.
var errNoBundle = errors.New("the entry bundle could not be read")

func (k knownTiles) ReadTiles(ctx context.Context, ts []tiles.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	var missing []tiles.Tile
	var at []int
	own := -1
	for i, t := range ts {
		if t == k.level0 {
			own = i
			continue
		}
		missing = append(missing, t)
		at = append(at, i)
	}
	if len(missing) > 0 {
		got, err := k.next.ReadTiles(ctx, missing)
		if err != nil {
			return nil, err
		}
		for j, i := range at {
			out[i] = got[j]
		}
	}
	if own >= 0 {
		<-k.bundle.done
		if k.bundle.err != nil {
			return nil, errNoBundle
		}
		out[own] = k.bundle.level0
	}
	return out, nil
}
