package verifier

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idcode"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"golang.org/x/mod/sumdb/note"
)

const fixtureOrigin = "fixture.citylog.example/log"

// mirror serves a public tree over real HTTP, letting each test rewrite
// any response: the hostile mirror.
type mirror struct {
	files map[string][]byte
	edit  func(w http.ResponseWriter, r *http.Request, path string, body []byte) bool // true: handled
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/log/")
	body, ok := m.files[path]
	if m.edit != nil && m.edit(w, r, path, body) {
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(body)
}

// loadTree reads every file of a directory tree.
func loadTree(t testing.TB, dir string) map[string][]byte {
	files := map[string][]byte{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)], _ = os.ReadFile(p)
		}
		return nil
	})
	return files
}

// resign signs a checkpoint body with s, as a log holding s would.
func resign(t testing.TB, s note.Signer, body string) []byte {
	b, err := note.Sign(&note.Note{Text: body}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nthIndex is the offset of the n-th (from 0) occurrence of sep in b.
func nthIndex(b []byte, sep string, n int) int {
	at := 0
	for range n {
		at += bytes.Index(b[at:], []byte(sep)) + len(sep)
	}
	return at + bytes.Index(b[at:], []byte(sep))
}

func flipHash(h tiles.Hash) tiles.Hash {
	h[5] ^= 1
	return h
}

func body(t testing.TB, signed []byte) string {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		t.Fatal("not a note")
	}
	return string(signed[:i+1])
}

// TestHostileMirror runs every hostile case twice: against a plain
// tlog-tiles mirror, and against one that also serves the edge file
// (tiles.EdgePath), whose checkpoint replaces "checkpoint" and whose
// hashes replace the right-edge tiles.
func TestHostileMirror(t *testing.T) {
	for _, withEdge := range []bool{false, true} {
		name := "plain"
		if withEdge {
			name = "edge"
		}
		t.Run(name, func(t *testing.T) { hostileMirror(t, withEdge) })
	}
}

func hostileMirror(t *testing.T, withEdge bool) {
	signer, key := testSigner(t, fixtureOrigin)
	other, _ := testSigner(t, fixtureOrigin) // same name, another key
	evil, _ := testSigner(t, "evil.example/log")
	files := loadTree(t, fixture)
	body600 := body(t, files["checkpoint"])
	body300 := body(t, files["checkpoint.300"])
	honestEdge, err := tiles.ParseEdge(files[tiles.EdgePath])
	if err != nil {
		t.Fatal(err)
	}
	edgeOf := func(signed []byte, hashes []tiles.Hash) []byte {
		return tiles.Edge{Checkpoint: signed, Hashes: hashes}.Marshal()
	}
	files["checkpoint"] = resign(t, signer, body600)
	files[tiles.EdgePath] = edgeOf(files["checkpoint"], honestEdge.Hashes)
	edgeFile := files[tiles.EdgePath]
	if !withEdge {
		delete(files, tiles.EdgePath)
	}
	held, err := OpenCheckpoint(files["checkpoint"], key)
	if err != nil {
		t.Fatal(err)
	}
	code := fixtureCodes(t, 6)[5]

	serve := func(path string, data []byte) func(http.ResponseWriter, *http.Request, string, []byte) bool {
		return func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			if p != path {
				return false
			}
			w.Write(data)
			return true
		}
	}
	// serveCP serves a hostile checkpoint wherever the verifier reads
	// one: "checkpoint", and the edge file (with honest hashes) if any.
	serveCP := func(signed []byte) func(http.ResponseWriter, *http.Request, string, []byte) bool {
		return func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			switch {
			case p == "checkpoint":
				w.Write(signed)
			case p == tiles.EdgePath && withEdge:
				w.Write(edgeOf(signed, honestEdge.Hashes))
			default:
				return false
			}
			return true
		}
	}
	// In the edge mode, the right-edge tiles are not read at all: a
	// hostile copy of one changes nothing.
	edgeTile, edgeTileUnchecked := ErrFailed, ErrUnchecked
	if withEdge {
		edgeTile, edgeTileUnchecked = nil, nil
	}
	swapped := append([]tiles.Hash{honestEdge.Hashes[1], honestEdge.Hashes[0]}, honestEdge.Hashes[2:]...)
	flip := func(b []byte, at int) []byte {
		c := append([]byte(nil), b...)
		c[at] ^= 1
		return c
	}
	cp := files["checkpoint"]
	sigAt := bytes.LastIndexByte(cp, ' ') + 10
	blamed := map[string]string{
		"flipped level-1 tile":          "tile/1/000.p/2",
		"flipped byte in another entry": "tile/entries/000",
	}
	for _, tc := range []struct {
		name string
		edit func(http.ResponseWriter, *http.Request, string, []byte) bool
		kind error // nil: must verify
	}{
		{"honest", nil, nil},
		{"gzip", func(w http.ResponseWriter, r *http.Request, p string, b []byte) bool {
			if b == nil {
				return false
			}
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(b)
			zw.Close()
			return true
		}, nil},
		{"redirect to honest copy", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			if !strings.HasPrefix(p, "tile/") || r.URL.RawQuery != "" {
				return false // serve normally after the redirect
			}
			http.Redirect(w, r, "/log/"+p+"?moved", http.StatusFound)
			return true
		}, nil},
		{"bad signature", serveCP(flip(cp, sigAt)), ErrFailed},
		{"other key, same name", serveCP(resign(t, other, body600)), ErrFailed},
		{"wrong origin", serveCP(resign(t, signer, strings.Replace(body600, fixtureOrigin, "evil.example/log", 1))), ErrFailed},
		{"evil log's checkpoint", serveCP(resign(t, evil, strings.Replace(body600, fixtureOrigin, "evil.example/log", 1))), ErrFailed},
		{"bigger size, same root", serveCP(resign(t, other, strings.Replace(body600, "\n600\n", "\n601\n", 1))), ErrFailed},
		{"unsigned checkpoint", serveCP([]byte(body600)), ErrFailed},
		// Leaf 5's proof reads tile/1/000.p/2 and, without the edge file,
		// the right edge tile/0/002.p/88; its own level-0 tile is computed
		// from the bundle.
		{"swapped tile", serve("tile/0/002.p/88", files["tile/0/001"][:88*32]), edgeTile},
		{"flipped tile", serve("tile/0/002.p/88", flip(files["tile/0/002.p/88"], 100)), edgeTile},
		{"short tile", serve("tile/0/002.p/88", files["tile/0/002.p/88"][:2000]), edgeTile},
		// A hostile edge file, also where the honest mirror has none: a
		// signed checkpoint with hostile hashes, or a broken file.
		{"edge hash flipped", serve(tiles.EdgePath, edgeOf(cp, append([]tiles.Hash{flipHash(honestEdge.Hashes[0])}, honestEdge.Hashes[1:]...))), ErrFailed},
		{"edge hashes swapped", serve(tiles.EdgePath, edgeOf(cp, swapped)), ErrFailed},
		{"edge hash missing", serve(tiles.EdgePath, edgeOf(cp, honestEdge.Hashes[1:])), ErrFailed},
		{"edge hash added", serve(tiles.EdgePath, edgeOf(cp, append(slices.Clone(honestEdge.Hashes), honestEdge.Hashes[0]))), ErrFailed},
		{"edge malformed", serve(tiles.EdgePath, bytes.Replace(edgeFile, []byte("\n\n"), []byte("\n"), 1)), ErrFailed},
		{"edge cut short", serve(tiles.EdgePath, edgeFile[:100]), ErrFailed},
		{"edge with the checkpoint of another log", serve(tiles.EdgePath, edgeOf(resign(t, evil, strings.Replace(body600, fixtureOrigin, "evil.example/log", 1)), honestEdge.Hashes)), ErrFailed},
		// A host that does not know the file: the plain checkpoint is read.
		{"edge answered with a page", serve(tiles.EdgePath, []byte("<html>not found</html>")), nil},
		{"edge forbidden", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			if p != tiles.EdgePath {
				return false
			}
			http.Error(w, "AccessDenied", http.StatusForbidden)
			return true
		}, nil},
		{"flipped level-1 tile", serve("tile/1/000.p/2", flip(files["tile/1/000.p/2"], 32+3)), ErrFailed}, // hash 1: leaf 5's sibling subtree
		{"edited entry", serve("tile/entries/000", bytes.Replace(files["tile/entries/000"], []byte(`"name":"`), []byte(`"name":"X`), 1)), ErrFailed},
		{"flipped byte in another entry", serve("tile/entries/000", flip(files["tile/entries/000"], nthIndex(files["tile/entries/000"], `"name":"`, 7)+9)), ErrFailed},
		{"truncated bundle", serve("tile/entries/000", files["tile/entries/000"][:5000]), ErrFailed},
		{"missing bundle", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			if p == "tile/entries/000" {
				http.NotFound(w, r)
				return true
			}
			return false
		}, ErrUnchecked},
		{"server errors", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return true
		}, ErrUnchecked},
		{"oversize tile", serve("tile/0/002.p/88", bytes.Repeat(files["tile/0/002.p/88"], 200)), edgeTileUnchecked},
		{"endless bundle", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			if p != "tile/entries/000" {
				return false
			}
			chunk := bytes.Repeat([]byte{0, 1, 'x'}, 4096)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					break
				}
			}
			return true
		}, ErrUnchecked},
		{"stalled checkpoint", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			if p != "checkpoint" && p != tiles.EdgePath {
				return false
			}
			w.Header().Set("Content-Length", "500")
			w.Write(cp[:10])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return true
		}, ErrUnchecked},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request, p string, _ []byte) bool {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
			return true
		}, ErrUnchecked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&mirror{files: files, edit: tc.edit})
			defer srv.Close()
			src, err := source.NewHTTP(srv.URL+"/log", source.HTTPOptions{Timeout: 500 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			l := New(src, key)
			start := time.Now()
			a, err := l.VerifyCode(context.Background(), code)
			if time.Since(start) > 3*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			if tc.kind == nil {
				if err != nil || a.Code != code {
					t.Fatalf("honest mirror: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("verified %s from a hostile mirror", a.Code)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("err = %v, want %v", err, tc.kind)
			}
			// With checkpoint.edge, the file that breaks the proof is
			// singled out.
			if culprit := blamed[tc.name]; withEdge && culprit != "" && !strings.Contains(err.Error(), culprit+" is not the log's") {
				t.Errorf("err = %v, want it to single out %s", err, culprit)
			}
		})
	}

	// A rolled-back checkpoint, signed by the log itself: the verifier
	// holding size 600 must refuse the served size 300.
	files["checkpoint"] = resign(t, signer, body300)
	delete(files, tiles.EdgePath)
	srv := httptest.NewServer(&mirror{files: files})
	defer srv.Close()
	src, _ := source.NewHTTP(srv.URL+"/log", source.HTTPOptions{})
	l := New(src, key)
	cur, err := l.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ev, err := l.ProveConsistency(context.Background(), held, cur); !errors.Is(err, ErrFailed) || ev == nil {
		t.Fatalf("rollback: %v", err)
	}
}

// TestEntryBreakingTheRule serves a log, correctly signed, whose only
// entry carries the code of another index: inclusion holds, the rule not.
func TestEntryBreakingTheRule(t *testing.T) {
	signer, key := testSigner(t, "bad.example/log")
	wrong, _ := idcode.New("FR", "IDF", 5)
	e := entry.Entry{Request: entry.Request{Country: "FR", Subdivision: "IDF", Name: "Paris", IDs: []string{"unlocode:FRPAR"}},
		Code: wrong, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	leafBytes := e.AppendJSON(nil)
	leaf := tiles.HashLeaf(leafBytes)
	bundle, _ := tiles.AppendBundleEntry(nil, leafBytes)
	cpBody := tiles.Checkpoint{Origin: "bad.example/log", Size: 1, Root: leaf}
	files := map[string][]byte{
		"checkpoint":           resign(t, signer, string(cpBody.Marshal())),
		"tile/0/000.p/1":       leaf[:],
		"tile/entries/000.p/1": bundle,
	}
	srv := httptest.NewServer(&mirror{files: files})
	defer srv.Close()
	src, _ := source.NewHTTP(srv.URL+"/log", source.HTTPOptions{})
	l := New(src, key)
	right, _ := idcode.New("FR", "IDF", 0)
	_, err := l.VerifyCode(context.Background(), right.String())
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "index 5") {
		t.Fatalf("entry with another index's code: %v", err)
	}
	if _, err := l.VerifyCode(context.Background(), wrong.String()); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "not in the log") {
		t.Fatalf("its own code: %v", err)
	}
}
