package verifier

import (
	"fmt"
	"strings"

	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
)

// Policy is the witnesses a checkpoint must be cosigned by: at least
// Quorum of Witnesses. The zero Policy demands nothing.
type Policy struct {
	Witnesses []note.Verifier
	Quorum    int
}

// ParseWitnesses reads cosignature/v1 witness verifier keys. A witness
// named twice (by name or by key) is refused: one witness counted twice
// would meet a quorum of two.
func ParseWitnesses(vkeys []string, quorum int) (Policy, error) {
	var p Policy
	for _, k := range vkeys {
		v, err := cosig.NewVerifier(k)
		if err != nil {
			return Policy{}, fmt.Errorf("%w: witness key: %v", ErrInput, err)
		}
		for _, w := range p.Witnesses {
			if w.Name() == v.Name() || w.(*cosig.Verifier).PublicKey().Equal(v.PublicKey()) {
				return Policy{}, fmt.Errorf("%w: witness %s is given twice (by name or by key): one witness cannot count twice towards a quorum", ErrInput, v.Name())
			}
		}
		p.Witnesses = append(p.Witnesses, v)
	}
	if quorum < 0 || quorum > len(p.Witnesses) {
		return Policy{}, fmt.Errorf("%w: a quorum of %d is not between 0 and the %d witnesses given", ErrInput, quorum, len(p.Witnesses))
	}
	p.Quorum = quorum
	return p, nil
}

// check counts the witnesses whose cosignatures n carries (note.Open has
// verified every signature from a known key) and names the missing ones.
func (p Policy) check(n *note.Note) error {
	if p.Quorum == 0 {
		return nil
	}
	var missing []string
	have := 0
	for _, w := range p.Witnesses {
		found := false
		for _, s := range n.Sigs {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				found = true
			}
		}
		if found {
			have++
		} else {
			missing = append(missing, w.Name())
		}
	}
	if have < p.Quorum {
		return failed("checkpoint is cosigned by %d of the %d witnesses required; missing: %s", have, p.Quorum, strings.Join(missing, ", "))
	}
	return nil
}

func (p Policy) verifiers(key note.Verifier) note.Verifiers {
	return note.VerifierList(append([]note.Verifier{key}, p.Witnesses...)...)
}
