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

func body(t testing.TB, signed []byte) string {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		t.Fatal("not a note")
	}
	return string(signed[:i+1])
}

func TestHostileMirror(t *testing.T) {
	signer, key := testSigner(t, fixtureOrigin)
	other, _ := testSigner(t, fixtureOrigin) // same name, another key
	evil, _ := testSigner(t, "evil.example/log")
	files := loadTree(t, fixture)
	body600 := body(t, files["checkpoint"])
	body300 := body(t, files["checkpoint.300"])
	files["checkpoint"] = resign(t, signer, body600)
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
	flip := func(b []byte, at int) []byte {
		c := append([]byte(nil), b...)
		c[at] ^= 1
		return c
	}
	cp := files["checkpoint"]
	sigAt := bytes.LastIndexByte(cp, ' ') + 10
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
		{"bad signature", serve("checkpoint", flip(cp, sigAt)), ErrFailed},
		{"other key, same name", serve("checkpoint", resign(t, other, body600)), ErrFailed},
		{"wrong origin", serve("checkpoint", resign(t, signer, strings.Replace(body600, fixtureOrigin, "evil.example/log", 1))), ErrFailed},
		{"evil log's checkpoint", serve("checkpoint", resign(t, evil, strings.Replace(body600, fixtureOrigin, "evil.example/log", 1))), ErrFailed},
		{"bigger size, same root", serve("checkpoint", resign(t, other, strings.Replace(body600, "\n600\n", "\n601\n", 1))), ErrFailed},
		{"unsigned checkpoint", serve("checkpoint", []byte(body600)), ErrFailed},
		// Leaf 5's proof reads tile/1/000.p/2 and the right edge
		// tile/0/002.p/88; its own level-0 tile is computed from the bundle.
		{"swapped tile", serve("tile/0/002.p/88", files["tile/0/001"][:88*32]), ErrFailed},
		{"flipped tile", serve("tile/0/002.p/88", flip(files["tile/0/002.p/88"], 100)), ErrFailed},
		{"short tile", serve("tile/0/002.p/88", files["tile/0/002.p/88"][:2000]), ErrFailed},
		{"flipped level-1 tile", serve("tile/1/000.p/2", flip(files["tile/1/000.p/2"], 32+3)), ErrFailed}, // hash 1: leaf 5's sibling subtree
		{"edited entry", serve("tile/entries/000", bytes.Replace(files["tile/entries/000"], []byte(`"name":"`), []byte(`"name":"X`), 1)), ErrFailed},
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
		{"oversize tile", serve("tile/0/002.p/88", bytes.Repeat(files["tile/0/002.p/88"], 200)), ErrUnchecked},
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
			if p != "checkpoint" {
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
			a, err := l.VerifyCode(context.Background(), rules, code)
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
		})
	}

	// A rolled-back checkpoint, signed by the log itself: the verifier
	// holding size 600 must refuse the served size 300.
	files["checkpoint"] = resign(t, signer, body300)
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
	_, err := l.VerifyCode(context.Background(), rules, right.String())
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "index 5") {
		t.Fatalf("entry with another index's code: %v", err)
	}
	if _, err := l.VerifyCode(context.Background(), rules, wrong.String()); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "not in the log") {
		t.Fatalf("its own code: %v", err)
	}
}
