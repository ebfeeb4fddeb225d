package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// failOn fails the writes fail picks ("put" or "remove", the path, and
// the data put).
type failOn struct {
	Store
	mu   sync.Mutex
	fail func(op, path string, data []byte) bool
}

func (f *failOn) PutFile(ctx context.Context, p string, b []byte) error {
	f.mu.Lock()
	fail := f.fail("put", p, b)
	f.mu.Unlock()
	if fail {
		return errors.New("injected: no space left on device")
	}
	return f.Store.PutFile(ctx, p, b)
}

func (f *failOn) RemoveFile(ctx context.Context, p string) error {
	f.mu.Lock()
	fail := f.fail("remove", p, nil)
	f.mu.Unlock()
	if fail {
		return errors.New("injected: connection reset")
	}
	return f.Store.RemoveFile(ctx, p)
}

// TestRefreshCutShortKeepsTail: a refresh that wrote some of the tail's
// chunks, but not tail.txt and meta, must not lose the names the tail
// held (the entries between the settled ones and the old size): when no
// settling follows, nothing else puts them back.
func TestRefreshCutShortKeepsTail(t *testing.T) {
	ctx := context.Background()
	for _, cut := range []string{tailPath, tailChunkPath(1), tailChunkPath(2), metaPath} {
		t.Run(cut, func(t *testing.T) {
			l := newTestLog(t, 2000)
			l.grow(t, 300, 300) // settled 256, the tail two chunks
			dir, st := l.newSite(t)
			l.grow(t, 100, 100) // 400: still settled to 256
			failing := &failOn{Store: st, fail: func(op, p string, _ []byte) bool { return op == "put" && p == cut }}
			if _, err := Refresh(ctx, l.config(t, failing)); err == nil {
				t.Fatal("the refresh succeeded with its writes failing")
			}
			recovers(t, l, st, func() map[string][]byte { return readTree(t, dir) }, l.built(t), "site after a cut-short refresh")
		})
	}
}

// TestRefreshRemakesUnsortedTail: a tail that holds the right names in
// the wrong order (two chunks swapped, as by hand) is made again from the
// entries: merged into, its order would stay wrong and searches miss.
func TestRefreshRemakesUnsortedTail(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 300, 300) // settled 256, the tail two chunks
	dir, st := l.newSite(t)
	files := readTree(t, dir)
	for a, b := range map[int]int{0: 1, 1: 0} {
		if err := st.PutFile(ctx, tailChunkPath(a), files[tailChunkPath(b)]); err != nil {
			t.Fatal(err)
		}
	}
	l.grow(t, 100, 100)
	recovers(t, l, st, func() map[string][]byte { return readTree(t, dir) }, l.built(t), "site after two chunks of its tail were swapped")
}

// TestRefreshAfterCutShortSettle: a settling cut short after it wrote the
// lists, the tail and removed the settled log-order pages, but before
// meta, must not leave a refresh (serve's next step after a failed
// idle update) to commit a site whose log-order pages are gone and whose
// tail lacks the entries settled.
func TestRefreshAfterCutShortSettle(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 300, 300) // settled 256
	dir, st := l.newSite(t)
	l.grow(t, 300, 300) // 600: an update settles to 512
	failing := &failOn{Store: st, fail: func(op, p string, data []byte) bool {
		return op == "put" && p == metaPath && bytes.Contains(data, []byte(`"settled":512,`)) // the settling's commit
	}}
	if _, err := Update(ctx, l.config(t, failing)); err == nil {
		t.Fatal("the update succeeded with its writes failing")
	}
	l.grow(t, 1, 1)
	recovers(t, l, st, func() map[string][]byte { return readTree(t, dir) }, l.built(t), "site after a cut-short settling")
}

// recovers checks a site after a run cut short: a refresh commits a site
// that shows every city once, and an update then ends where a build ends
// (want). files reads the site as it is.
func recovers(t *testing.T, l *testLog, st Store, files func() map[string][]byte, want map[string][]byte, what string) {
	t.Helper()
	ctx := context.Background()
	r, err := Refresh(ctx, l.config(t, st))
	if err != nil {
		t.Fatalf("%s, a refresh: %v", what, err)
	}
	checkSite(t, files(), int(r.To), r.Settled) // what the refresh committed
	if _, err := Update(ctx, l.config(t, st)); err != nil {
		t.Fatalf("%s, an update: %v", what, err)
	}
	sameTrees(t, what, files(), want)
}

// TestNameIndexCutShort: adding names to the main index (a settling) cut
// short at any write, then done again, gives the index a build gives.
func TestNameIndexCutShort(t *testing.T) {
	ctx := context.Background()
	var lines []nameLine
	for i := range 600 {
		name := []string{"San", "Santa", "Sant", "S", "San José", "Saint", "Sankt", "Salt"}[i%8] + fmt.Sprint(i%97)
		lines = append(lines, nameLine{Fold(name), name, fmt.Sprintf("XX-0-%04d", i)})
	}
	oneDir, one := siteDir(t)
	if err := updateNames(ctx, one, lines); err != nil {
		t.Fatal(err)
	}
	want := readTree(t, oneDir)
	for after := 0; after < 60; after += 3 {
		dir, st := siteDir(t)
		if err := updateNames(ctx, st, lines[:100]); err != nil {
			t.Fatal(err)
		}
		_ = updateNames(ctx, &failAfter{Store: st, n: after}, lines[100:])
		if err := updateNames(ctx, st, lines[100:]); err != nil {
			t.Fatalf("cut after %d writes, then again: %v", after, err)
		}
		sameTrees(t, fmt.Sprintf("cut after %d writes", after), readTree(t, dir), want)
	}
}

// TestCutShortAnywhere cuts a refresh, an update that settles and a
// refresh that must settle after every few writes; after each cut, a
// refresh and an update end where a build ends.
func TestCutShortAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("a site for each cut")
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		grow int
		run  func(context.Context, Config) (Report, error)
	}{
		{"refresh", 100, Refresh},          // 400: nothing to settle
		{"update", 300, Update},            // 600: settles to 512
		{"settling refresh", 600, Refresh}, // 900: 644 wait, settles to 768
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLog(t, 2000)
			l.grow(t, 300, 300)
			base := &memStore{files: map[string][]byte{}}
			if _, err := Build(ctx, l.config(t, base)); err != nil {
				t.Fatal(err)
			}
			l.grow(t, c.grow, c.grow)
			want := l.built(t)
			copySite := func() *memStore { return &memStore{files: maps.Clone(base.files)} }
			st := copySite()
			rep, err := c.run(ctx, l.config(t, st))
			if err != nil {
				t.Fatal(err)
			}
			step := max(rep.Files/40, 1)
			for after := 0; after <= rep.Files; after += step {
				st := copySite()
				if _, err := c.run(ctx, l.config(t, &failAfter{Store: st, n: after})); err == nil && after < rep.Files {
					t.Fatalf("cut after %d of %d writes: no error", after, rep.Files)
				}
				recovers(t, l, st, func() map[string][]byte { return st.files }, want, fmt.Sprintf("cut after %d of %d writes", after, rep.Files))
				if t.Failed() {
					return
				}
			}
		})
	}
}

// memStore is a Store in memory: a site for each cut costs no disk.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memStore) ReadFile(_ context.Context, p string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[p]
	if !ok {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return b, nil
}

func (m *memStore) PutFile(_ context.Context, p string, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = bytes.Clone(b)
	return nil
}

func (m *memStore) RemoveFile(_ context.Context, p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.files, p)
	return nil
}

func (m *memStore) Sync(context.Context) error { return nil }

// TestTailChunksForFindsEveryPrefix: over chunked sorted names with
// repeats across chunk boundaries, every name starting with a query is
// in the chunks tailChunksFor picks, for every prefix of every name and
// for queries before and after them all.
func TestTailChunksForFindsEveryPrefix(t *testing.T) {
	alphabet := []string{"a", "b", "ab", "é", "\ue000", "𝒜", " "}
	var lines []nameLine
	for i := range 400 {
		name := ""
		for k := i; k > 0 || name == ""; k /= 7 {
			name += alphabet[k%7]
			if k < 7 {
				break
			}
		}
		for r := 0; r <= i%3; r++ { // repeats
			lines = append(lines, nameLine{name, name, fmt.Sprintf("XX-0-%04d-%d", i, r)})
		}
	}
	slices.SortFunc(lines, compareLines)
	for _, size := range []int{1, 2, 3, 5, 40} {
		var firsts []string
		var chunks [][]nameLine
		for i := 0; i < len(lines); i += size {
			c := lines[i:min(i+size, len(lines))]
			firsts, chunks = append(firsts, c[0].folded), append(chunks, c)
		}
		queries := []string{"", "0", "\U0010ffff", "zz"}
		for _, l := range lines {
			for k := range len(l.folded) + 1 {
				queries = append(queries, l.folded[:k])
			}
		}
		for _, q := range queries {
			if !utf8.ValidString(q) {
				continue
			}
			lo, hi := tailChunksFor(firsts, q)
			for n, c := range chunks {
				for _, l := range c {
					if strings.HasPrefix(l.folded, q) && (n < lo || n >= hi) {
						t.Fatalf("chunks of %d: %q starts with %q, in chunk %d, not in [%d, %d)", size, l.folded, q, n, lo, hi)
					}
				}
			}
		}
	}
}

// TestSettleCutShortAtRemoval: a settling whose removal of a tail chunk
// past the new last fails leaves no chunk behind once done again.
func TestSettleCutShortAtRemoval(t *testing.T) {
	ctx := context.Background()
	l := newTestLog(t, 2000)
	l.grow(t, 300, 300)
	st := &memStore{files: map[string][]byte{}}
	if _, err := Build(ctx, l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	l.grow(t, 300, 300) // 600: the tail of 344 names shrinks to 88
	if _, err := Refresh(ctx, l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	failed := false
	failing := &failOn{Store: st, fail: func(op, p string, _ []byte) bool {
		if op == "remove" && p == tailChunkPath(5) && !failed {
			failed = true
			return true
		}
		return false
	}}
	if _, err := Update(ctx, l.config(t, failing)); err == nil || !failed {
		t.Fatalf("the update with a removal failing: %v (failed: %v)", err, failed)
	}
	if _, err := Update(ctx, l.config(t, st)); err != nil {
		t.Fatal(err)
	}
	sameTrees(t, "site after a removal failed", st.files, l.built(t))
}
