package verifier

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"golang.org/x/mod/sumdb/note"
)

const (
	fixture   = "testdata/log"
	tesseraV  = "../testdata/vectors/tessera-log"
	tesseraVK = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"
)

var rules = entry.DefaultRules()

func fixtureKey(t testing.TB) note.Verifier {
	t.Helper()
	v, err := ParseKey("testdata/vkey")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureCodes returns the codes of the fixture's first entries.
func fixtureCodes(t testing.TB, n int) []string {
	entries, err := tiles.ParseBundle(readFile(t, fixture+"/tile/entries/000"), tiles.Width)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries[:n] {
		d, err := rules.Decode(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Code.String())
	}
	return out
}

func TestVerifyCodeFixture(t *testing.T) {
	l := New(source.Dir(fixture), fixtureKey(t))
	ctx := context.Background()
	for i, code := range fixtureCodes(t, 5) {
		a, err := l.VerifyCode(ctx, strings.ToLower(code))
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if a.Code != code || a.Index != uint64(i) || a.TreeSize != 600 || a.Name == "" || len(a.IDs) == 0 {
			t.Errorf("%s: %+v", code, a)
		}
	}
	// The last leaf sits in a partial bundle and partial tiles.
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := l.ProveInclusion(ctx, cp, 599)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckEntry(rules, inc); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyCodeErrors(t *testing.T) {
	l := New(source.Dir(fixture), fixtureKey(t))
	ctx := context.Background()
	code := fixtureCodes(t, 1)[0]
	wrong := "A"
	if code[len(code)-1] == 'A' {
		wrong = "B"
	}
	typo := code[:len(code)-1] + wrong
	for _, tc := range []struct {
		code string
		kind error
		want string
	}{
		{typo, ErrInput, "expected " + code[len(code)-1:]},
		{"not-a-code", ErrInput, "malformed"},
	} {
		_, err := l.VerifyCode(ctx, tc.code)
		if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("VerifyCode(%s) = %v, want %v mentioning %q", tc.code, err, tc.kind, tc.want)
		}
	}
	// A well-formed code past the tree size.
	past := mustCode(t, "DE", "BY", 5000)
	if _, err := l.VerifyCode(ctx, past); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "not in the log (tree size 600)") {
		t.Errorf("past the tree: %v", err)
	}
	// A valid code for an index that holds another city.
	other := mustCode(t, "DE", "BY", 3)
	if _, err := l.VerifyCode(ctx, other); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "holds") {
		t.Errorf("index holds another code: %v", err)
	}
}

func TestReceipt(t *testing.T) {
	key := fixtureKey(t)
	data := readFile(t, "testdata/receipt/receipt.tlog-proof")
	r, err := VerifyReceipt(data, key, rules)
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(readFile(t, "testdata/receipt/code"))); r.Code != want || r.Checkpoint.Size != 300 {
		t.Errorf("receipt: %+v, want code %s at size 300", r.Allocation, want)
	}
	// The receipt's checkpoint is consistent with the log's current one.
	l := New(source.Dir(fixture), key)
	cur, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.ProveConsistency(context.Background(), r.Checkpoint, cur); err != nil {
		t.Fatal(err)
	}

	p, err := tiles.ParseTLogProof(data)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ParseKey(tesseraVK)
	for _, tc := range []struct {
		name string
		edit func(p tiles.TLogProof) tiles.TLogProof
		key  note.Verifier
		kind error
	}{
		{"untouched", func(p tiles.TLogProof) tiles.TLogProof { return p }, key, nil},
		{"wrong key", func(p tiles.TLogProof) tiles.TLogProof { return p }, other, ErrFailed},
		{"edited entry", func(p tiles.TLogProof) tiles.TLogProof {
			p.Extra = []byte(strings.Replace(string(p.Extra), `"name":"`, `"name":"X`, 1))
			return p
		}, key, ErrFailed},
		{"other index", func(p tiles.TLogProof) tiles.TLogProof { p.Index++; return p }, key, ErrFailed},
		{"flipped hash", func(p tiles.TLogProof) tiles.TLogProof {
			p.Hashes = append([]tiles.Hash(nil), p.Hashes...)
			p.Hashes[0][3] ^= 1
			return p
		}, key, ErrFailed},
		{"dropped hash", func(p tiles.TLogProof) tiles.TLogProof { p.Hashes = p.Hashes[1:]; return p }, key, ErrFailed},
		{"no entry", func(p tiles.TLogProof) tiles.TLogProof { p.Extra = nil; return p }, key, ErrInput},
		{"edited checkpoint", func(p tiles.TLogProof) tiles.TLogProof {
			p.Checkpoint = []byte(strings.Replace(string(p.Checkpoint), "\n300\n", "\n301\n", 1))
			return p
		}, key, ErrFailed},
	} {
		q := tc.edit(*p)
		_, err := VerifyReceipt(q.Marshal(), tc.key, rules)
		if tc.kind == nil && err != nil || tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
		}
	}
	if _, err := VerifyReceipt([]byte("garbage"), key, rules); !errors.Is(err, ErrInput) {
		t.Errorf("garbage receipt: %v", err)
	}
}

func TestConsistencyAndFork(t *testing.T) {
	key := fixtureKey(t)
	ctx := context.Background()
	l := New(source.Dir(fixture), key)
	cur, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old, err := OpenCheckpoint(readFile(t, fixture+"/checkpoint.300"), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ev, err := l.ProveConsistency(ctx, old, cur); err != nil || ev != nil {
		t.Fatalf("300 -> 600: %v", err)
	}
	// The fork: same key, same size, other entries after 300.
	fork, err := OpenCheckpoint(readFile(t, "testdata/fork/checkpoint"), key)
	if err != nil {
		t.Fatal(err)
	}
	_, ev, err := l.ProveConsistency(ctx, fork, cur)
	if !errors.Is(err, ErrFailed) || ev == nil || string(ev.Old) != string(fork.Signed) || string(ev.New) != string(cur.Signed) {
		t.Fatalf("fork not detected: %v, %+v", err, ev)
	}
	// Rolled back: the held checkpoint is newer than the served one.
	if _, ev, err := l.ProveConsistency(ctx, cur, old); !errors.Is(err, ErrFailed) || ev == nil || !strings.Contains(ev.Reason, "shrank") {
		t.Fatalf("rollback not detected: %v", err)
	}
}

// TestTesseraLog checks inclusion and consistency on a log written by
// another implementation (Tessera), whose entries are not citylog's.
func TestTesseraLog(t *testing.T) {
	key, err := ParseKey(tesseraVK)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l := New(source.Dir(tesseraV), key)
	cp, err := l.Checkpoint(ctx)
	if err != nil || cp.Size != 15 {
		t.Fatalf("%+v %v", cp, err)
	}
	words := strings.Fields("one two three four five six seven eit nain ten ileven twelf threeten fourten fivten")
	for i, w := range words {
		inc, err := l.ProveInclusion(ctx, cp, uint64(i))
		if err != nil || string(inc.Entry) != w {
			t.Errorf("leaf %d: %q %v", i, inc.Entry, err)
		}
	}
	for size := 1; size <= 15; size++ {
		old, err := OpenCheckpoint(readFile(t, tesseraV+"/checkpoint."+itoa(size)), key)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := l.ProveConsistency(ctx, old, cp); err != nil {
			t.Errorf("%d -> 15: %v", size, err)
		}
	}
	if _, err := l.ProveInclusion(ctx, cp, 15); !errors.Is(err, ErrFailed) {
		t.Errorf("leaf 15 of 15: %v", err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

func mustCode(t testing.TB, cc, sub string, index uint64) string {
	t.Helper()
	c, err := newCode(cc, sub, index)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testSigner(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// TestProveInclusionFetchesAtOnce: the entry bundle and the tiles a proof
// needs are asked for together, not one round trip after the other. The
// host here answers the bundle only once a tile has been asked for: a
// verifier that waited for the bundle first would stall until it gave up.
func TestProveInclusionFetchesAtOnce(t *testing.T) {
	dir := source.Dir(fixture)
	tileAsked := make(chan struct{})
	var once sync.Once
	slow := source.Func{Name: "a host whose every answer takes a round trip", Read: func(ctx context.Context, path string) ([]byte, error) {
		switch {
		case strings.HasPrefix(path, "tile/entries/"):
			select {
			case <-tileAsked:
			case <-time.After(5 * time.Second):
				return nil, fmt.Errorf("%s: no tile was asked for while the bundle was awaited: %w", path, source.ErrUnavailable)
			}
		case strings.HasPrefix(path, "tile/"):
			once.Do(func() { close(tileAsked) })
		}
		return dir.Fetch(ctx, path)
	}}
	l := New(slow, fixtureKey(t))
	ctx := context.Background()
	cp, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, index := range []uint64{5, 300, 599} {
		if _, err := l.ProveInclusion(ctx, cp, index); err != nil {
			t.Errorf("entry %d: %v", index, err)
		}
	}
}
