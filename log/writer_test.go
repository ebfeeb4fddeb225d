package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citylog/citylog/internal/durable"
	"github.com/citylog/citylog/log/entry"
	"github.com/citylog/citylog/log/idindex"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "cities.example.org/test"

func newLog(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := Init(dir, testOrigin); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openLog(t testing.TB, dir string) *Writer {
	t.Helper()
	w, err := Open(context.Background(), Config{Dir: dir, Now: fixedClock()})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func fixedClock() func() time.Time {
	return func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
}

// genRequest returns a valid, distinct request for i.
func genRequest(i int) entry.Request {
	return entry.Request{Country: "DE", Subdivision: "BY", Name: fmt.Sprintf("Town %d", i),
		IDs: []string{fmt.Sprintf("geonames:%d", i+1), fmt.Sprintf("national:DE:test:%d", i)}}
}

func genRequests(from, n int) []entry.Request {
	out := make([]entry.Request, n)
	for i := range out {
		out[i] = genRequest(from + i)
	}
	return out
}

func mustAllocate(t testing.TB, w *Writer, reqs []entry.Request) []Result {
	t.Helper()
	res, err := w.Allocate(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAllocateDedupReopen(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	res := mustAllocate(t, w, []entry.Request{
		{Country: "CN", Subdivision: "HE", Name: "Shijiazhuang", IDs: []string{"unlocode:CNSJW", "geonames:1795270"}, HasLocation: true, Lat: 38.04, Lon: 114.51},
		{Country: "CN", Subdivision: "HE", Name: "Shijiazhuang again", IDs: []string{"unlocode:cnsjw"}}, // same batch duplicate
		{Country: "ZZ", Subdivision: "HE", Name: "Nowhere", IDs: []string{"geonames:1"}},
		{Country: "FR", Subdivision: "IDF", Name: "Paris", IDs: []string{"unlocode:FRPAR"}},
	})
	if res[0].Err != nil || res[0].Code.String() != "CN-HE-0000-"+string(res[0].Code.String()[11]) || res[0].Existing {
		t.Errorf("first: %+v", res[0])
	}
	if res[1].Err != nil || !res[1].Existing || res[1].Code != res[0].Code {
		t.Errorf("in-batch duplicate: %+v", res[1])
	}
	if !errors.Is(res[2].Err, entry.ErrInvalid) {
		t.Errorf("invalid country: %+v", res[2])
	}
	if res[3].Err != nil || res[3].Index != 1 {
		t.Errorf("Paris: %+v", res[3])
	}
	if w.Size() != 2 {
		t.Errorf("size %d, want 2", w.Size())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = openLog(t, dir)
	defer w.Close()
	res = mustAllocate(t, w, []entry.Request{
		{Country: "FR", Subdivision: "IDF", Name: "Paris", IDs: []string{"geonames:2988507", "unlocode:FRPAR"}},
		{Country: "CN", Subdivision: "HE", Name: "Mixed", IDs: []string{"unlocode:CNSJW", "geonames:2988507"}},
		{Country: "FR", Subdivision: "IDF", Name: "Mixed", IDs: []string{"geonames:1795270", "unlocode:FRPAR"}},
	})
	if !res[0].Existing || res[0].Index != 1 {
		t.Errorf("after reopen: %+v", res[0])
	}
	if res[1].Existing != true || res[1].Index != 0 {
		t.Errorf("geonames:2988507 was not recorded for the existing Paris, so only CNSJW matches: %+v", res[1])
	}
	if !errors.Is(res[2].Err, ErrConflict) || !strings.Contains(res[2].Err.Error(), "FR-IDF-0001") || !strings.Contains(res[2].Err.Error(), "CN-HE-0000") {
		t.Errorf("conflict: %+v", res[2])
	}
}

func TestSecondWriterRefused(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	_, err := Open(context.Background(), Config{Dir: dir})
	if !errors.Is(err, durable.ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second writer: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
}

func TestOpenUninitialized(t *testing.T) {
	_, err := Open(context.Background(), Config{Dir: t.TempDir()})
	if !errors.Is(err, ErrNotInitialized) || !strings.Contains(err.Error(), "citylog init") {
		t.Fatalf("err = %v", err)
	}
	dir := newLog(t)
	if _, err := Init(dir, testOrigin); err == nil || !strings.Contains(err.Error(), "already holds a log") {
		t.Fatalf("second init: %v", err)
	}
	if _, err := Init(t.TempDir(), "bad origin"); err == nil {
		t.Fatal("origin with a space accepted")
	}
}

func TestIndexRebuiltWhenMissing(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 600))
	w.Close()
	os.Remove(filepath.Join(dir, StateDir, indexFile))
	w = openLog(t, dir)
	defer w.Close()
	res := mustAllocate(t, w, []entry.Request{genRequest(300)})
	if !res[0].Existing || res[0].Index != 300 {
		t.Fatalf("after rebuild: %+v", res[0])
	}
}

// TestEdgeRepairedOnOpen: a log without an edge file (written before they
// existed), or with one a crash cut short or left a batch ahead, gets the
// right one when the writer opens, before any new batch.
func TestEdgeRepairedOnOpen(t *testing.T) {
	dir := newLog(t)
	checkEdge(t, dir) // init writes the empty tree's edge
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 300))
	w.Close()
	edge := filepath.Join(dir, PublicDir, tiles.EdgePath)
	good, err := os.ReadFile(edge)
	if err != nil {
		t.Fatal(err)
	}
	w = openLog(t, dir)
	mustAllocate(t, w, genRequests(300, 5))
	w.Close()
	ahead, err := os.ReadFile(edge)
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func() error{
		"missing":       func() error { return os.Remove(edge) },
		"cut short":     func() error { return os.Truncate(edge, int64(len(ahead)/2)) },
		"empty":         func() error { return os.Truncate(edge, 0) },
		"a batch older": func() error { return os.WriteFile(edge, good, 0o644) },
		"flipped hash":  func() error { return flip(dir, filepath.Join(PublicDir, tiles.EdgePath), 40) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		w := openLog(t, dir)
		checkEdge(t, dir)
		w.Close()
		if b, _ := os.ReadFile(edge); !bytes.Equal(b, ahead) {
			t.Errorf("%s: the repaired edge differs from the one published with the checkpoint", name)
		}
	}
}

// TestFinish: Finish publishes the identifier index and saves the dedup
// index (which the next Open then uses as it is), together.
func TestFinish(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 3000))
	if err := w.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lookupPublished(t, dir, "geonames:2500"); len(got) != 1 || got[0] != 2499 {
		t.Errorf("geonames:2500 -> %v", got)
	}
	if x, err := idindex.OpenStack(filepath.Join(dir, StateDir, indexFile), 3000); err != nil {
		t.Errorf("the dedup index was not saved for size 3000: %v", err)
	} else {
		x.Close()
	}
	w = openLog(t, dir) // the lock was released
	defer w.Close()
	if res := mustAllocate(t, w, []entry.Request{genRequest(1234)}); !res[0].Existing || res[0].Index != 1234 {
		t.Errorf("after Finish: %+v", res[0])
	}
}

// TestInitWithKey: a log made from a signing key the caller holds has that
// key's verifier key and origin, and a key that is not one is refused
// before anything is written.
func TestInitWithKey(t *testing.T) {
	// A key whose base64 holds a '+' (most do), the separator of its parts.
	var skey, vkey string
	for skey == "" || !strings.Contains(strings.SplitN(skey, "+", 5)[4], "+") {
		var err error
		if skey, vkey, err = note.GenerateKey(nil, "cities.example.org/log"); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	got, err := InitWithKey(dir, skey)
	if err != nil || got != vkey {
		t.Fatalf("InitWithKey = %q, %v; want %q", got, err, vkey)
	}
	w, err := Open(context.Background(), Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if w.VerifierKey() != vkey || w.Origin() != "cities.example.org/log" {
		t.Errorf("log has key %q, origin %q", w.VerifierKey(), w.Origin())
	}
	for _, bad := range []string{"", vkey, "PRIVATE+KEY+x+00000000+AAAA", strings.Replace(skey, "+", "+x", 3)} {
		empty := t.TempDir()
		if _, err := InitWithKey(empty, bad); err == nil {
			t.Errorf("InitWithKey(%q) accepted", bad)
		}
		if entries, _ := os.ReadDir(empty); len(entries) != 0 {
			t.Errorf("InitWithKey(%q) wrote %d files", bad, len(entries))
		}
	}
}

// TestOpenRemovesTemporaryFiles: temporary files a crash left in the
// public tree's root, its index directories and the state are removed at
// start; everything else stays.
func TestOpenRemovesTemporaryFiles(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 10))
	if err := w.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	pub, state := filepath.Join(dir, PublicDir), filepath.Join(dir, StateDir)
	temps := []string{
		filepath.Join(pub, ".checkpoint.tmp-123"),
		filepath.Join(pub, ".checkpoint.edge.tmp-9"),
		filepath.Join(pub, "index/ids/4/.tmp-77"),
		filepath.Join(state, ".ids.idx.tmp-5"),
		filepath.Join(state, ".scratch-3"),
	}
	for _, p := range temps {
		if err := os.WriteFile(p, []byte("left by a crash"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(pub, "keep.txt")
	os.WriteFile(keep, []byte("x"), 0o644)
	w = openLog(t, dir)
	defer w.Close()
	for _, p := range temps {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived an open: %v", p, err)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("a file of the tree was removed: %v", err)
	}
}
