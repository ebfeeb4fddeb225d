package verifier

import (
	"encoding/json"

	"github.com/citylog/citylog/tiles"
)

// Evidence shows a log misbehaving: two checkpoints it signed that cannot
// both be true, and the proof that failed between them. Anyone holding the
// log's key can check it; the checkpoints are verbatim signed notes.
type Evidence struct {
	Reason string       `json:"reason"`
	Old    []byte       `json:"old_checkpoint"` // base64 in JSON
	New    []byte       `json:"new_checkpoint"`
	Proof  []tiles.Hash `json:"-"`
}

// MarshalJSON writes the evidence with readable checkpoints.
func (e *Evidence) MarshalJSON() ([]byte, error) {
	proof := make([][]byte, len(e.Proof))
	for i := range e.Proof {
		proof[i] = e.Proof[i][:]
	}
	return json.MarshalIndent(struct {
		Reason string   `json:"reason"`
		Old    string   `json:"old_checkpoint"`
		New    string   `json:"new_checkpoint"`
		Proof  [][]byte `json:"consistency_proof"`
	}{e.Reason, string(e.Old), string(e.New), proof}, "", "  ")
}
