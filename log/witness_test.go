package log

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citylog/citylog/log/witnessclient"
	"github.com/citylog/citylog/tiles/cosig"
	"github.com/citylog/citylog/verifier"
	"github.com/citylog/citylog/verifier/witness"
	"golang.org/x/mod/sumdb/note"
)

// TestCosignedCheckpoints runs a log with a real witness over HTTP: every
// published checkpoint carries its cosignature and satisfies a verifier's
// quorum; with the witness gone, the fail-closed writer publishes nothing.
// startWitness runs a real witness of the log whose state directories
// are dirs (the key is read from the first) and writes its policy, a
// quorum of 1, into each. It returns the witness's verifier key and its
// server, closed when the test ends.
func startWitness(t *testing.T, dirs ...string) (string, *httptest.Server) {
	t.Helper()
	vkey, err := os.ReadFile(filepath.Join(dirs[0], StateDir, vkeyFile))
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	skey, wvkey, err := cosig.GenerateKey("witness.test")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := cosig.NewSigner(skey, nil)
	wit, err := witness.New(signer, []note.Verifier{logKey}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wit)
	t.Cleanup(srv.Close)
	cfg, _ := json.Marshal(witnessclient.Config{Witnesses: []witnessclient.Witness{{URL: srv.URL, VKey: wvkey}}, Quorum: 1})
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, StateDir, WitnessesFile), cfg, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return wvkey, srv
}

func TestCosignedCheckpoints(t *testing.T) {
	dir := newLog(t)
	vkey, _ := os.ReadFile(filepath.Join(dir, StateDir, vkeyFile))
	logKey, _ := note.NewVerifier(strings.TrimSpace(string(vkey)))
	wvkey, srv := startWitness(t, dir)

	w := openLog(t, dir)
	policy, err := verifier.ParseWitnesses([]string{wvkey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ { // the witness learns and follows the log's size
		res := mustAllocate(t, w, genRequests(round*300, 300))
		cp, _ := os.ReadFile(filepath.Join(dir, PublicDir, CheckpointPath))
		if _, err := verifier.OpenCheckpoint(cp, logKey, policy); err != nil {
			t.Fatalf("round %d: published checkpoint lacks the quorum: %v", round, err)
		}
		receipt, err := w.Receipt(context.Background(), res[0].Index)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifier.VerifyReceipt(receipt, logKey, w.Rules(), policy); err != nil {
			t.Fatalf("receipt without cosignature: %v", err)
		}
	}
	w.Close()

	// A restarted writer learns the witness's size from its 409.
	w = openLog(t, dir)
	mustAllocate(t, w, genRequests(2000, 10))
	srv.Close() // the witness goes away
	_, err = w.Allocate(context.Background(), genRequests(3000, 10))
	if !errors.Is(err, witnessclient.ErrNoQuorum) {
		t.Fatalf("without the witness: %v, want ErrNoQuorum", err)
	}
	w.Close()
	if st, _ := ReadStatus(context.Background(), dir, nil); st.Size != 910 {
		t.Errorf("size %d after the refused batch, want 910", st.Size)
	}
}
