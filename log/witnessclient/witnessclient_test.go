package witnessclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/cosig"
	"golang.org/x/mod/sumdb/note"
)

func signedCheckpoint(t *testing.T, size uint64) []byte {
	skey, _, err := note.GenerateKey(rand.Reader, "wc.example/log")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	root := tiles.HashLeaf([]byte(fmt.Sprint(size)))
	b, err := note.Sign(&note.Note{Text: string(tiles.Checkpoint{Origin: "wc.example/log", Size: size, Root: root}.Marshal())}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeWitness answers add-checkpoint with faults a real witness would not
// produce, or with a real cosignature; it counts requests and records the
// "old" lines it was sent.
type fakeWitness struct {
	signer *cosig.Signer
	mode   string
	calls  atomic.Int32
	olds   []string
}

func (f *fakeWitness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	old, _, _ := strings.Cut(string(body), "\n")
	f.olds = append(f.olds, old)
	_, cp, _ := strings.Cut(string(body), "\n\n")
	switch {
	case f.mode == "409 then ok" && old == "old 0":
		w.Header().Set("Content-Type", "text/x.tlog.size")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintln(w, "5")
		return
	case f.mode == "garbage":
		fmt.Fprintln(w, "— witness.test AAAA")
		return
	case f.mode == "500":
		http.Error(w, "down", 500)
		return
	}
	text := cp[:strings.Index(cp, "\n\n")+1]
	signed, _ := note.Sign(&note.Note{Text: text}, f.signer)
	_, line, _ := strings.Cut(string(signed), "\n\n")
	io.WriteString(w, line)
}

func setup(t *testing.T, mode string) (*fakeWitness, *Client) {
	skey, vkey, err := cosig.GenerateKey("witness.test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cosig.NewSigner(skey, nil)
	f := &fakeWitness{signer: s, mode: mode}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{Witnesses: []Witness{{URL: srv.URL, VKey: vkey}}, Quorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func noProof(old uint64) ([]tiles.Hash, error) { return []tiles.Hash{tiles.HashLeaf(nil)}, nil }

func TestCosign(t *testing.T) {
	ctx := context.Background()
	f, c := setup(t, "ok")
	out, err := c.Cosign(ctx, signedCheckpoint(t, 10), 10, noProof)
	if err != nil || !strings.Contains(string(out), "— witness.test ") {
		t.Fatalf("%q %v", out, err)
	}
	// The second round starts from the size the witness cosigned.
	if _, err := c.Cosign(ctx, signedCheckpoint(t, 12), 12, noProof); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(f.olds) != "[old 0 old 10]" {
		t.Errorf("old lines sent: %v", f.olds)
	}

	f, c = setup(t, "409 then ok")
	if _, err := c.Cosign(ctx, signedCheckpoint(t, 10), 10, noProof); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(f.olds) != "[old 0 old 5]" || f.calls.Load() != 2 {
		t.Errorf("after a 409: %v", f.olds)
	}

	for _, mode := range []string{"garbage", "500"} {
		_, c := setup(t, mode)
		_, err := c.Cosign(ctx, signedCheckpoint(t, 10), 10, noProof)
		if !errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "witness.test") {
			t.Errorf("%s: %v, want ErrNoQuorum naming the witness", mode, err)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	_, vkey, _ := cosig.GenerateKey("w")
	for _, c := range []Config{
		{Witnesses: []Witness{{URL: "ftp://x", VKey: vkey}}, Quorum: 1},
		{Witnesses: []Witness{{URL: "http://x", VKey: "bad"}}, Quorum: 1},
		{Witnesses: []Witness{{URL: "http://x", VKey: vkey}}, Quorum: 2},
		{Witnesses: []Witness{{URL: "http://x", VKey: vkey}}, Quorum: 1, Timeout: "soon"},
	} {
		if c.Check() == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}

// TestConfigRefusesTwins: a policy file (written by citylog witness add,
// or by hand) that lists one witness twice, by URL, name or key, is
// refused, so a quorum of 2 can never be met by one witness.
func TestConfigRefusesTwins(t *testing.T) {
	const (
		w1    = "witness.example.org+b8a2cf20+BFLN3yikSfFkVAJtrnh/CiY3Zozkoy7clp+P7XB28qUN"
		w2    = "w2.example.org+73b791ab+BCYF7VuR9IpL5PPsCFbLJmwaR0cb3MBH7QNdiRja4UaF"
		alias = "alias.example.org+125d1253+BCYF7VuR9IpL5PPsCFbLJmwaR0cb3MBH7QNdiRja4UaF" // w2's key
	)
	ok := Config{Quorum: 2, Witnesses: []Witness{{"http://a.example", w1}, {"http://b.example", w2}}}
	if err := ok.Check(); err != nil {
		t.Fatalf("two witnesses: %v", err)
	}
	for name, ws := range map[string][]Witness{
		"same URL":  {{"http://a.example", w1}, {"http://a.example/", w2}},
		"same name": {{"http://a.example", w1}, {"http://b.example", w1}},
		"same key":  {{"http://a.example", w2}, {"http://b.example", alias}},
	} {
		c := Config{Quorum: 2, Witnesses: ws}
		if err := c.Check(); err == nil || !strings.Contains(err.Error(), "count twice") {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: a client was made", name)
		}
	}
}
