package witness

import (
	"errors"
	"strings"
	"testing"

	"github.com/citylog/citylog/verifier"
	"golang.org/x/mod/sumdb/note"
)

// TestQuorumRefusesSplitView is the split-view scenario end to end: the
// log's key signs two checkpoints of size 15; the witness cosigns the
// first and refuses the second; a verifier demanding the witness accepts
// the first and refuses the second, naming the missing witness.
func TestQuorumRefusesSplitView(t *testing.T) {
	w, wv := newWitness(t, t.TempDir())
	lv, _ := note.NewVerifier(logVKey)
	honest := checkpointN(t, 15)
	r := w.AddCheckpoint(body(t, 0, 15, honest))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	cosigned := append(append([]byte(nil), honest...), r.Body...)
	fork := forged(t, 15)
	if r := w.AddCheckpoint(body(t, 15, 15, fork)); r.Status != 422 {
		t.Fatalf("witness cosigned the fork: %d", r.Status)
	}
	p, err := verifier.ParseWitnesses([]string{wv.String()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verifier.OpenCheckpoint(cosigned, lv, p); err != nil {
		t.Fatalf("cosigned checkpoint refused: %v", err)
	}
	for name, cp := range map[string][]byte{"uncosigned honest": honest, "fork": fork} {
		_, err := verifier.OpenCheckpoint(cp, lv, p)
		if !errors.Is(err, verifier.ErrFailed) || !strings.Contains(err.Error(), "missing: witness.test") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The fork carrying the honest checkpoint's cosignature line does not
	// verify: the cosignature signs the other root.
	stolen := append(append([]byte(nil), fork...), r.Body...)
	if _, err := verifier.OpenCheckpoint(stolen, lv, p); err == nil {
		t.Error("a cosignature moved onto the fork verified")
	}
	// Without a policy the fork is just a signed checkpoint.
	if _, err := verifier.OpenCheckpoint(fork, lv); err != nil {
		t.Errorf("no policy: %v", err)
	}
}
