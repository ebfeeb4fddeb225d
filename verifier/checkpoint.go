package verifier

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/citylog/citylog/tiles"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// ErrWrongKey is wrapped, beside ErrFailed, when a checkpoint carries no
// signature by the key it is checked under: most often the caller holds
// another log's key, or the source serves another log. It is not evidence
// against the log. A signature by the right key that does not verify is
// plain ErrFailed: that is evidence.
var ErrWrongKey = errors.New("not signed by this key")

// ErrMalformed is wrapped, beside ErrFailed, when a checkpoint verifies
// but its body is not a tlog-checkpoint of the key's origin.
var ErrMalformed = errors.New("not a checkpoint of this log")

// ParseKey reads a note verifier key, given inline or as a file holding it.
func ParseKey(key string) (note.Verifier, error) {
	if !strings.Contains(key, "+") {
		b, err := os.ReadFile(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is neither a verifier key (name+hash+key) nor a readable file: %v", ErrInput, key, err)
		}
		key = strings.TrimSpace(string(b))
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a note verifier key: %v", ErrInput, key, err)
	}
	return v, nil
}

// Checkpoint is a verified checkpoint and the signed note it came from.
type Checkpoint struct {
	tiles.Checkpoint
	Signed []byte
	// edge is the tree's right edge when the log published one with the
	// checkpoint (tiles.Edge), checked to fold to Root; nil otherwise.
	edge []tiles.Hash
	body string // the signed text, verbatim (extension lines included)
}

// Body returns the checkpoint's signed text, verbatim: what a cosigner
// signs.
func (cp Checkpoint) Body() string { return cp.body }

// prover returns a proof builder over r that already holds the
// checkpoint's right edge, if it came with one.
func (cp Checkpoint) prover(r tiles.TileReader) (*tiles.Prover, error) {
	p := tiles.NewProver(r)
	if cp.edge != nil {
		if err := p.AddNodes(cp.Size, compact.RangeNodes(0, cp.Size, nil), cp.edge); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// OpenCheckpoint verifies a signed checkpoint: signature by v, origin
// equal to the key's name, body in canonical form, and the cosignatures
// the policy demands (if any). It is the one opener of the verifier, the
// monitor and the witness.
func OpenCheckpoint(signed []byte, v note.Verifier, policy ...Policy) (Checkpoint, error) {
	var p Policy
	if len(policy) > 0 {
		p = policy[0]
	}
	n, err := note.Open(signed, p.verifiers(v))
	if err != nil {
		var unknown *note.UnverifiedNoteError
		if errors.As(err, &unknown) {
			return Checkpoint{}, wrongKey(v, unknown.Note)
		}
		var bad *note.InvalidSignatureError
		if errors.As(err, &bad) {
			return Checkpoint{}, failed("checkpoint does not verify under %s: %v", v.Name(), err)
		}
		return Checkpoint{}, fmt.Errorf("%w: %w: the checkpoint is not a signed note: %v", ErrFailed, ErrMalformed, err)
	}
	logSigned := false
	for _, s := range n.Sigs {
		logSigned = logSigned || (s.Name == v.Name() && s.Hash == v.KeyHash())
	}
	if !logSigned {
		return Checkpoint{}, wrongKey(v, n)
	}
	if err := p.check(n); err != nil {
		return Checkpoint{}, err
	}
	cp, _, err := tiles.ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w: the signed checkpoint is malformed: %v", ErrFailed, ErrMalformed, err)
	}
	if cp.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("%w: %w: checkpoint origin %q is not the key's %q", ErrFailed, ErrMalformed, cp.Origin, v.Name())
	}
	return Checkpoint{Checkpoint: cp, Signed: signed, body: n.Text}, nil
}

// wrongKey explains a checkpoint that carries no signature by v, naming
// the keys that did sign it and its origin.
func wrongKey(v note.Verifier, n *note.Note) error {
	origin, _, _ := strings.Cut(n.Text, "\n")
	var by []string
	for _, s := range n.UnverifiedSigs {
		by = append(by, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	signers := "no key"
	if len(by) > 0 {
		signers = strings.Join(by, ", ")
	}
	return fmt.Errorf("%w: %w (%s+%08x): the checkpoint of origin %q is signed by %s", ErrFailed, ErrWrongKey, v.Name(), v.KeyHash(), origin, signers)
}
