package witness

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"github.com/citylog/citylog/tiles/source"
	"golang.org/x/mod/sumdb/note"
)

const (
	tessera = "../../testdata/vectors/tessera-log"
	// The vector log's keys, published by Tessera for tests.
	logVKey = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
	logSKey = "PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"
)

func newWitness(t testing.TB, dir string) (*Witness, *cosig.Verifier) {
	t.Helper()
	skey, _, err := cosig.GenerateKey("witness.test")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(dir + "/.key"); err == nil { // the same witness across restarts
		skey = string(b)
	} else {
		os.MkdirAll(dir, 0o700)
		os.WriteFile(dir+"/.key", []byte(skey), 0o600)
	}
	s, err := cosig.NewSigner(skey, nil)
	if err != nil {
		t.Fatal(err)
	}
	vkey := s.VerifierKey()
	lv, _ := note.NewVerifier(logVKey)
	w, err := New(s, []note.Verifier{lv}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	v, _ := cosig.NewVerifier(vkey)
	return w, v
}

func checkpointN(t testing.TB, n int) []byte {
	b, err := os.ReadFile(fmt.Sprintf("%s/checkpoint.%d", tessera, n))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// body builds an add-checkpoint body with a proof from old to the size
// of checkpoint n, computed from the vector's tiles.
func body(t testing.TB, old, n int, cp []byte) []byte {
	var proof []tiles.Hash
	if old > 0 {
		var err error
		proof, err = tiles.ConsistencyProof(context.Background(), source.Tiles{Source: source.Dir(tessera)}, uint64(old), uint64(n))
		if err != nil {
			t.Fatal(err)
		}
	}
	return tiles.AddCheckpointBody(uint64(old), proof, cp)
}

// forged signs, with the log's own key, a checkpoint of size n with
// another root: a split view.
func forged(t testing.TB, n int) []byte {
	s, err := note.NewSigner(logSKey)
	if err != nil {
		t.Fatal(err)
	}
	cp := tiles.Checkpoint{Origin: "example.com/log/testdata", Size: uint64(n), Root: tiles.HashLeaf([]byte("another history"))}
	b, err := note.Sign(&note.Note{Text: string(cp.Marshal())}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAddCheckpoint(t *testing.T) {
	dir := t.TempDir()
	w, wv := newWitness(t, dir)
	lv, _ := note.NewVerifier(logVKey)
	steps := []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"malformed", []byte("old 0\n"), 400, "blank line"},
		{"bad old line", []byte("new 0\n\n" + string(checkpointN(t, 3))), 400, "old <size>"},
		{"unknown origin", []byte("old 0\n\nother.example/log\n1\nx\n\n— x y\n"), 404, "does not witness"},
		{"bad signature", []byte("old 0\n\n" + strings.Replace(string(checkpointN(t, 3)), "\n3\n", "\n4\n", 1)), 403, "does not verify"},
		{"old beyond size", body(t, 0, 3, checkpointN(t, 3))[:0], 400, ""},
		{"first contact", body(t, 0, 3, checkpointN(t, 3)), 200, "— witness.test "},
		{"stale old", body(t, 0, 5, checkpointN(t, 5)), 409, "3\n"},
		{"grow 3 -> 7", body(t, 3, 7, checkpointN(t, 7)), 200, "— witness.test "},
		{"same again", body(t, 7, 7, checkpointN(t, 7)), 200, "— witness.test "},
		{"split view at 7", body(t, 7, 7, forged(t, 7)), 422, "not consistent"},
		{"split view at 9", append([]byte("old 7\n"), body(t, 7, 9, forged(t, 9))[len("old 7\n"):]...), 422, "not consistent"},
		{"grow 7 -> 15", body(t, 7, 15, checkpointN(t, 15)), 200, "— witness.test "},
	}
	steps[4].body = []byte("old 9\n\n" + string(checkpointN(t, 3)))
	steps[4].want = "larger"
	for _, s := range steps {
		r := w.AddCheckpoint(s.body)
		if r.Status != s.status || !strings.Contains(string(r.Body), s.want) {
			t.Fatalf("%s: %d %q, want %d %q", s.name, r.Status, r.Body, s.status, s.want)
		}
		if s.status == 409 && r.ContentType != "text/x.tlog.size" {
			t.Errorf("%s: content type %q", s.name, r.ContentType)
		}
		if s.status == 200 {
			// The cosignature verifies when appended to the checkpoint.
			cp := s.body[strings.Index(string(s.body), "\n\n")+2:]
			n, err := note.Open(append(append([]byte(nil), cp...), r.Body...), note.VerifierList(lv, wv))
			if err != nil || len(n.Sigs) != 2 {
				t.Fatalf("%s: cosigned checkpoint does not verify: %v", s.name, err)
			}
		}
	}
	// A second witness process on the same state is refused.
	if _, err := New(w.signer, []note.Verifier{lv}, dir); err == nil || !strings.Contains(err.Error(), "one witness process per state") {
		t.Fatalf("a second witness on one state: %v", err)
	}
	// After a restart the witness still refuses the split view and knows its size.
	w.Close()
	w2, _ := newWitness(t, dir)
	if r := w2.AddCheckpoint(body(t, 15, 15, forged(t, 15))); r.Status != 422 {
		t.Errorf("after restart, split view: %d %s", r.Status, r.Body)
	}
	if r := w2.AddCheckpoint(body(t, 3, 15, checkpointN(t, 15))); r.Status != 409 || string(r.Body) != "15\n" {
		t.Errorf("after restart, stale old: %d %q", r.Status, r.Body)
	}
	hist, _ := os.ReadFile(originDir(dir, "example.com/log/testdata") + "/history")
	if strings.Count(string(hist), "— witness.test ") != 4 {
		t.Errorf("history holds %d cosigned checkpoints, want 4", strings.Count(string(hist), "— witness.test "))
	}
}

// TestConcurrentSplitView races honest and forged checkpoints of the same
// sizes: whatever order they land in, the witness never cosigns both
// histories.
func TestConcurrentSplitView(t *testing.T) {
	w, _ := newWitness(t, t.TempDir())
	if r := w.AddCheckpoint(body(t, 0, 1, checkpointN(t, 1))); r.Status != 200 {
		t.Fatal(r.Status)
	}
	var mu sync.Mutex
	cosigned := map[string]bool{} // root -> cosigned, for size 10
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp := checkpointN(t, 10)
			kind := "honest"
			if i%2 == 1 {
				cp, kind = forged(t, 10), "forged"
			}
			if r := w.AddCheckpoint(body(t, 1, 10, cp)); r.Status == 200 {
				mu.Lock()
				cosigned[kind] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(cosigned) > 1 {
		t.Fatal("the witness cosigned two histories of one log")
	}
}

// FuzzAddCheckpoint feeds the witness add-checkpoint bodies whose head
// (the "old" line and the proof) is arbitrary, ahead of a checkpoint the
// log really signed (or a split view of it): it must answer with one of
// its documented statuses, never panic, and never cosign two roots for
// one size.
func FuzzAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0"), uint8(3), false)
	f.Add([]byte("old 3\n"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), uint8(7), false)
	f.Add([]byte("old 7"), uint8(7), true)
	f.Add([]byte("old 01"), uint8(1), false)
	f.Add([]byte("old 3\n\n"), uint8(5), false)
	dir := f.TempDir()
	w, wv := newWitness(f, dir)
	lv, _ := note.NewVerifier(logVKey)
	var mu sync.Mutex
	cosigned := map[uint64]tiles.Hash{} // size -> the root the witness cosigned
	f.Fuzz(func(t *testing.T, head []byte, n uint8, forge bool) {
		size := int(n % 16)
		cp := checkpointN(t, size)
		if forge {
			cp = forged(t, size)
		}
		body := append(append(head, "\n\n"...), cp...)
		r := w.AddCheckpoint(body)
		switch r.Status {
		case 400, 403, 404, 409, 422:
			return
		case 200:
		default:
			t.Fatalf("status %d %q for %q", r.Status, r.Body, body)
		}
		signed, err := note.Open(append(append([]byte(nil), cp...), r.Body...), note.VerifierList(lv, wv))
		if err != nil || len(signed.Sigs) != 2 {
			t.Fatalf("200 with a cosignature that does not verify: %v", err)
		}
		c, _, err := tiles.ParseCheckpoint([]byte(signed.Text))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if root, ok := cosigned[c.Size]; ok && root != c.Root {
			t.Fatalf("cosigned two roots for size %d", c.Size)
		}
		cosigned[c.Size] = c.Root
	})
}
