// Package monitor audits a citylog log from any copy of its public tree:
// each round it verifies the new checkpoint, proves it consistent with the
// last one audited, downloads every new entry, recomputes the tree from
// the entries, and replays the allocation rule over each of them. Its
// state lives on disk, so it resumes where it stopped and its memory does
// not grow with the log.
package monitor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/internal/fptable"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// The kinds of violation (Violation.Kind). They are a public contract:
// scripts and alerting match on them, in the JSON lines of cityverify
// monitor --json. Never change one; add new ones.
const (
	KindMalformedBundle  = "malformed bundle"            // an entry bundle does not parse
	KindInvalidEntry     = "invalid entry"               // an entry breaks the allocation rule or is not canonical
	KindCodeMismatch     = "code does not match index"   // an entry's code names another leaf
	KindTimeBackwards    = "time went backwards"         // an entry was integrated before the one before it
	KindIdentifierReused = "identifier reused"           // an identifier is held by two codes
	KindMissingTile      = "missing tile"                // a tile the tree needs is not published
	KindTileMismatch     = "tile does not match entries" // a published tile is not the one the entries give
	KindRootMismatch     = "root does not match entries" // the signed root is not the entries' root
	KindMalformedIndex   = "malformed identifier index"  // the identifier index's meta or a shard does not parse
	KindIndexIncomplete  = "identifier index incomplete" // the identifier index lacks identifiers of the log
	KindIndexLies        = "identifier index lies"       // the identifier index points an identifier at a leaf without it
	KindInconsistent     = "inconsistent checkpoint"     // a checkpoint is not consistent with the last one audited: a fork
)

// Violation is one way the log broke its promises, with the evidence.
type Violation struct {
	Kind       string `json:"violation"`
	Index      uint64 `json:"index"`
	Detail     string `json:"detail"`
	Entry      string `json:"entry,omitempty"`
	Other      string `json:"other_entry,omitempty"` // the earlier entry, for a reused identifier
	Checkpoint string `json:"checkpoint"`            // the signed checkpoint the entry was audited under
	Previous   string `json:"previous_checkpoint,omitempty"`
}

// Monitor audits one log.
type Monitor struct {
	log    *verifier.Log
	src    source.Source
	state  string
	unlock func() error
	// Progress, if set, is called with the entries audited so far and the
	// checkpoint size being caught up to.
	Progress func(done, total uint64)
	// SaveEvery is how many entries are audited between saves of the state
	// during a long round (default 262,144).
	SaveEvery uint64
}

// state is what the monitor keeps between rounds.
type state struct {
	Size     uint64    `json:"size"`      // entries audited
	Range    [][]byte  `json:"range"`     // compact range [0, Size)
	LastTime time.Time `json:"last_time"` // integration time of entry Size-1
	IndexAt  uint64    `json:"index_checked_at"`
	Edge     [][]byte  `json:"edge"` // per level, the hashes of the incomplete tile recomputed so far
	// Since is when the monitor first saw the current checkpoint: a log
	// whose checkpoint stops changing may have stopped, or be hiding.
	Since time.Time `json:"checkpoint_since"`
}

// New returns a monitor of l, keeping its state in dir, which it locks:
// two monitors on one state would each save their own progress over the
// other's (one process per state; the lock goes with the process).
func New(l *verifier.Log, dir string) (*Monitor, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("couldn't create monitor state: %w", err)
	}
	unlock, err := durable.Lock(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("couldn't take the monitor state %s (one monitor process per state): %w", dir, err)
	}
	return &Monitor{log: l, src: l.Source(), state: dir, unlock: unlock, SaveEvery: 1 << 18}, nil
}

// Close releases the state directory.
func (m *Monitor) Close() error { return m.unlock() }

func (m *Monitor) path(name string) string { return filepath.Join(m.state, name) }

func (m *Monitor) loadState() (state, []byte, error) {
	var st state
	b, err := os.ReadFile(m.path("state.json"))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil, nil
	}
	if err != nil {
		return st, nil, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, nil, fmt.Errorf("%s is damaged: %v; remove the state directory to audit from scratch", m.path("state.json"), err)
	}
	cp, err := os.ReadFile(m.path("checkpoint"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return st, nil, err
	}
	return st, cp, nil
}

func (m *Monitor) saveState(st state, idx *fptable.Table, cp []byte) error {
	if err := idx.Save(st.Size); err != nil {
		return err
	}
	b, _ := json.Marshal(st)
	if err := durable.WriteFile(m.path("state.json"), b, 0o600); err != nil {
		return err
	}
	if cp != nil {
		return durable.WriteFile(m.path("checkpoint"), cp, 0o600)
	}
	return nil
}

// Round audits everything new since the last round. Violations are
// returned, all of them; err is for rounds that could not be completed.
func (m *Monitor) Round(ctx context.Context) ([]Violation, verifier.Checkpoint, error) {
	cp, err := m.log.Checkpoint(ctx)
	if err != nil {
		return nil, cp, err
	}
	st, prevSigned, err := m.loadState()
	if err != nil {
		return nil, cp, err
	}
	var vs []Violation
	if prevSigned != nil {
		prev, err := verifier.OpenCheckpoint(prevSigned, m.log.Key())
		if err != nil {
			return nil, cp, fmt.Errorf("the stored checkpoint no longer verifies: %w", err)
		}
		if _, ev, err := m.log.ProveConsistency(ctx, prev, cp); err != nil {
			if ev == nil {
				return nil, cp, err
			}
			return append(vs, Violation{Kind: KindInconsistent, Index: cp.Size, Detail: ev.Reason,
				Checkpoint: string(cp.Signed), Previous: string(prevSigned)}), cp, nil
		}
	}
	// Read each round: the operator may add subdivisions as the log grows.
	rules, err := verifier.ReadRules(ctx, m.src)
	if err != nil {
		return nil, cp, err
	}
	if prevSigned == nil || string(prevSigned) != string(cp.Signed) || st.Since.IsZero() {
		st.Since = time.Now().UTC()
	}
	a, err := m.newAudit(ctx, st, cp, rules)
	if err != nil {
		return nil, cp, err
	}
	defer a.idx.Close()
	if err := a.run(ctx, m); err != nil {
		return a.vs, cp, err
	}
	vs = append(vs, a.vs...)
	if err := m.saveState(a.st, a.idx, cp.Signed); err != nil {
		return vs, cp, err
	}
	return vs, cp, nil
}

// Since returns when the monitor first saw the checkpoint it last audited
// (zero before the first round).
func (m *Monitor) Since() time.Time {
	st, _, _ := m.loadState()
	return st.Since
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
