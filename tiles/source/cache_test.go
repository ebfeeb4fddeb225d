package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/citylog/citylog/tiles"
)

// treeFiles is a small public tree whose tiles have the shapes their
// paths imply.
func treeFiles(seed byte) map[string][]byte {
	hashes := func(n int) []byte { return bytes.Repeat([]byte{seed}, n*tiles.HashSize) }
	bundle := func(n int) []byte {
		var b []byte
		for i := range n {
			b, _ = tiles.AppendBundleEntry(b, []byte{seed, byte(i)})
		}
		return b
	}
	return map[string][]byte{
		"checkpoint":           []byte("example.com/log\n5\n" + string(rune('A'+seed)) + "\n"),
		"other/file":           {seed},
		"tile/0/000":           hashes(tiles.Width),
		"tile/0/001.p/5":       hashes(5),
		"tile/1/x001/000.p/17": hashes(17),
		"tile/entries/000":     bundle(tiles.Width),
		"tile/entries/001.p/2": bundle(2),
		"tile/0/002":           []byte("<html>not a tile</html>"), // wrong shape: served, not cached
	}
}

// newTreeServer serves files under /log/. A path listed in missing gets
// 404 until the server has answered it that many times.
func newTreeServer(t *testing.T, files map[string][]byte, missing map[string]int) *testServer {
	var mu sync.Mutex
	return newTestServer(t, func(w http.ResponseWriter, r *http.Request, _ int32) {
		p := strings.TrimPrefix(r.URL.Path, "/log/")
		mu.Lock()
		miss := missing[p] > 0
		if miss {
			missing[p]--
		}
		mu.Unlock()
		b, ok := files[p]
		if !ok || miss {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
}

func cacheKey(s Source) string {
	sum := sha256.Sum256([]byte(s.String()))
	return hex.EncodeToString(sum[:])[:16]
}

func TestCacheFetch(t *testing.T) {
	files := treeFiles(1)
	for _, tc := range []struct {
		path     string
		requests int32 // for three fetches
	}{
		{"tile/0/000", 1},
		{"tile/0/001.p/5", 1},
		{"tile/1/x001/000.p/17", 1},
		{"tile/entries/000", 1},
		{"tile/entries/001.p/2", 1},
		{"checkpoint", 3},
		{"other/file", 3},
		{"tile/0/002", 3},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := newTreeServer(t, files, nil)
			h := newTestHTTP(t, s, HTTPOptions{})
			dir := t.TempDir()
			c := NewCache(h, dir)
			for i := range 3 {
				b, err := c.Fetch(t.Context(), tc.path)
				if err != nil {
					t.Fatalf("Fetch %d: %v", i, err)
				}
				if !bytes.Equal(b, files[tc.path]) {
					t.Fatalf("Fetch %d = %q, want %q", i, b, files[tc.path])
				}
			}
			if n := s.requests.Load(); n != tc.requests {
				t.Errorf("server got %d requests for 3 fetches, want %d", n, tc.requests)
			}
			name := filepath.Join(dir, cacheKey(h), filepath.FromSlash(tc.path))
			_, err := os.Stat(name)
			if cached := err == nil; cached != (tc.requests == 1) {
				t.Errorf("%s in cache: %v, want %v", name, cached, tc.requests == 1)
			}
			checkNoTemp(t, dir)
		})
	}
}

// checkNoTemp fails if a temporary file was left under dir.
func checkNoTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", path)
		}
		return nil
	})
}

func TestCacheErrorNotCached(t *testing.T) {
	files := treeFiles(1)
	s := newTreeServer(t, files, map[string]int{"tile/0/000": 1})
	c := NewCache(newTestHTTP(t, s, HTTPOptions{}), t.TempDir())
	if _, err := c.Fetch(t.Context(), "tile/0/000"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("first Fetch error = %v, want ErrNotFound", err)
	}
	for i := range 2 {
		if b, err := c.Fetch(t.Context(), "tile/0/000"); err != nil || !bytes.Equal(b, files["tile/0/000"]) {
			t.Fatalf("Fetch %d = %d bytes, %v; want the tile", i, len(b), err)
		}
	}
	if n := s.requests.Load(); n != 2 {
		t.Errorf("server got %d requests, want 2: the 404, then one fetch to cache", n)
	}
}

func TestCacheBadFile(t *testing.T) {
	files := treeFiles(1)
	for _, tc := range []struct {
		name, path string
		content    []byte
	}{
		{"oversize", "tile/0/000", make([]byte, MaxTileSize+1)},
		{"truncated", "tile/0/000", files["tile/0/000"][:100]},
		{"empty", "tile/0/001.p/5", nil},
		{"partial too wide", "tile/0/001.p/5", files["tile/0/000"]},
		{"bad bundle", "tile/entries/001.p/2", []byte{0, 9, 1}},
		{"bundle too long", "tile/entries/001.p/2", files["tile/entries/000"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTreeServer(t, files, nil)
			h := newTestHTTP(t, s, HTTPOptions{})
			dir := t.TempDir()
			name := filepath.Join(dir, cacheKey(h), filepath.FromSlash(tc.path))
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, tc.content, 0o644); err != nil {
				t.Fatal(err)
			}
			c := NewCache(h, dir)
			for i := range 2 {
				if b, err := c.Fetch(t.Context(), tc.path); err != nil || !bytes.Equal(b, files[tc.path]) {
					t.Fatalf("Fetch %d = %d bytes, %v; want the file from the server", i, len(b), err)
				}
			}
			if n := s.requests.Load(); n != 1 {
				t.Errorf("server got %d requests, want 1", n)
			}
			if b, err := os.ReadFile(name); err != nil || !bytes.Equal(b, files[tc.path]) {
				t.Errorf("cache file now holds %d bytes, %v; want the file from the server", len(b), err)
			}
		})
	}
}

func TestCacheSourcesApart(t *testing.T) {
	dir := t.TempDir()
	a, b := treeFiles(1), treeFiles(2)
	sa, sb := newTreeServer(t, a, nil), newTreeServer(t, b, nil)
	ca, cb := NewCache(newTestHTTP(t, sa, HTTPOptions{}), dir), NewCache(newTestHTTP(t, sb, HTTPOptions{}), dir)
	if ca.String() == cb.String() || cacheKey(ca) == cacheKey(cb) {
		t.Fatalf("sources %q and %q share a key", ca, cb)
	}
	for range 2 {
		for _, tc := range []struct {
			c    *Cache
			want []byte
		}{{ca, a["tile/0/000"]}, {cb, b["tile/0/000"]}} {
			if got, err := tc.c.Fetch(t.Context(), "tile/0/000"); err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("%s: Fetch = %d bytes, %v; want its own tile", tc.c, len(got), err)
			}
		}
	}
	if na, nb := sa.requests.Load(), sb.requests.Load(); na != 1 || nb != 1 {
		t.Errorf("servers got %d and %d requests, want 1 each", na, nb)
	}
}

func TestCacheUnwritable(t *testing.T) {
	files := treeFiles(1)
	s := newTreeServer(t, files, nil)
	dir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(dir, nil, 0o644); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	c := NewCache(newTestHTTP(t, s, HTTPOptions{}), dir)
	for i := range 2 {
		if b, err := c.Fetch(t.Context(), "tile/0/000"); err != nil || !bytes.Equal(b, files["tile/0/000"]) {
			t.Fatalf("Fetch %d = %d bytes, %v; want the tile despite the cache", i, len(b), err)
		}
	}
	if n := s.requests.Load(); n != 2 {
		t.Errorf("server got %d requests, want 2", n)
	}
}

// TestCacheConcurrent fetches one tile from many goroutines sharing a
// cache directory, as separate processes would: each read sees a whole
// file or none.
func TestCacheConcurrent(t *testing.T) {
	files := treeFiles(1)
	s := newTreeServer(t, files, nil)
	h := newTestHTTP(t, s, HTTPOptions{})
	dir := t.TempDir()
	var wg sync.WaitGroup
	for range 8 {
		c := NewCache(h, dir)
		wg.Go(func() {
			for range 20 {
				if b, err := c.Fetch(t.Context(), "tile/entries/000"); err != nil || !bytes.Equal(b, files["tile/entries/000"]) {
					t.Errorf("Fetch = %d bytes, %v; want the bundle", len(b), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := s.requests.Load(); n > 8 {
		t.Errorf("server got %d requests, want at most one per goroutine", n)
	}
	checkNoTemp(t, dir)
}

func TestDefaultCacheDir(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("os.UserCacheDir's variables differ by OS")
	}
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, err := DefaultCacheDir(); err != nil || d != "/xdg/cityverify" {
		t.Errorf("DefaultCacheDir() = %q, %v; want /xdg/cityverify", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	if d, err := DefaultCacheDir(); err == nil {
		t.Errorf("DefaultCacheDir() = %q without HOME or XDG_CACHE_HOME, want an error", d)
	}
}
