package mirror

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/tiles"
	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

const fixture = "../testdata"

// copyTree copies dir to a new temporary directory.
func copyTree(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(out, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// at300 is the fixture log as it was at size 300: its checkpoint then,
// no edge file, the same tiles (a reader falls back to the full ones).
func at300(t *testing.T) string {
	src := copyTree(t, filepath.Join(fixture, "log"))
	b, err := os.ReadFile(filepath.Join(src, "checkpoint.300"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "checkpoint"), b, 0o644)
	os.Remove(filepath.Join(src, "checkpoint.edge"))
	return src
}

func logOf(t *testing.T, dir string) *verifier.Log {
	t.Helper()
	key, err := verifier.ParseKey(filepath.Join(fixture, "vkey"))
	if err != nil {
		t.Fatal(err)
	}
	return verifier.New(source.Dir(dir), key)
}

func newDest(t *testing.T) (string, *dirstore.Store) {
	dir := t.TempDir()
	d, err := dirstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, d
}

// checkMirror verifies the mirror as a city would, from the mirror alone.
func checkMirror(t *testing.T, dir string, size uint64) {
	t.Helper()
	l := logOf(t, dir)
	ctx := context.Background()
	cp, err := l.Checkpoint(ctx)
	if err != nil || cp.Size != size {
		t.Fatalf("the mirror's checkpoint: size %d, %v; want %d", cp.Size, err, size)
	}
	for _, i := range []uint64{0, 7, size / 2, size - 1} {
		inc, err := l.ProveInclusion(ctx, cp, i)
		if err != nil {
			t.Fatalf("leaf %d in the mirror: %v", i, err)
		}
		a, err := l.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verifier.CheckEntry(a, inc); err != nil {
			t.Errorf("entry %d in the mirror: %v", i, err)
		}
	}
}

func TestMirrorIncrementally(t *testing.T) {
	ctx := context.Background()
	dir, dest := newDest(t)
	rep, err := New(logOf(t, at300(t)), dest).Round(ctx)
	if err != nil || rep.From != 0 || rep.To != 300 || rep.Entries != 300 {
		t.Fatalf("first round: %+v, %v", rep, err)
	}
	checkMirror(t, dir, 300)
	src := filepath.Join(fixture, "log")
	rep, err = New(logOf(t, src), dest).Round(ctx)
	if err != nil || rep.From != 300 || rep.To != 600 || rep.Entries != 300 {
		t.Fatalf("second round: %+v, %v", rep, err)
	}
	checkMirror(t, dir, 600)
	// The partials of the tiles the round completed are gone.
	for _, p := range []string{"tile/entries/001.p", "tile/0/001.p"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is still in the mirror after its full tile was written: %v", p, err)
		}
	}
	// The mirror serves find: the index was copied.
	if !rep.Index {
		t.Error("the identifier index was not copied")
	}
	a, err := logOf(t, dir).Find(ctx, "national:CN:fixture:XQ-0001")
	if err != nil || a.Code != "CN-XQ-009C-Y" {
		t.Errorf("find in the mirror: %+v, %v", a, err)
	}
	// Nothing new: a round that changes nothing.
	rep, err = New(logOf(t, src), dest).Round(ctx)
	if err != nil || rep.Entries != 0 || rep.Files != 0 {
		t.Errorf("an idle round: %+v, %v", rep, err)
	}
	// The mirror is a log of its own: it can be mirrored.
	dir2, dest2 := newDest(t)
	if _, err := New(logOf(t, dir), dest2).Round(ctx); err != nil {
		t.Fatalf("mirroring the mirror: %v", err)
	}
	checkMirror(t, dir2, 600)
}

// TestMirrorRefusesHostileSources: a changed bundle, a changed tile, a
// changed old entry, a forked checkpoint and a rolled-back one are each
// refused as verification failures, and the mirror keeps its last good
// checkpoint, byte for byte.
func TestMirrorRefusesHostileSources(t *testing.T) {
	ctx := context.Background()
	flip := func(path string, at int) func(t *testing.T, src string) {
		return func(t *testing.T, src string) {
			p := filepath.Join(src, path)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if at < 0 {
				at += len(b) // from the end
			}
			b[at] ^= 1
			os.WriteFile(p, b, 0o644)
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(t *testing.T, src string)
		want  string
		start int // the size the mirror holds before the round: 0, 300 or 600
	}{
		{"flipped byte in a new bundle", flip("tile/entries/001", -10), "entry 511 in tile/entries/001 from", 300},
		{"flipped byte in a new level-0 tile", flip("tile/0/002.p/88", 40), "level-0 hash tiles from", 0},
		{"flipped byte in a hash tile", flip("tile/1/000.p/2", 10), "not the tile its entries give", 0},
		{"flipped byte in a tile of the proof", flip("tile/0/001", 100), "not consistent", 300},
		{"flipped byte in an old entry", flip("tile/entries/001", 20), "not the one the mirror verified", 300},
		{"a forked checkpoint", func(t *testing.T, src string) {
			for _, f := range []string{"checkpoint", "checkpoint.edge"} {
				b, _ := os.ReadFile(filepath.Join(fixture, "fork", f))
				os.WriteFile(filepath.Join(src, f), b, 0o644)
			}
		}, "not consistent", 600},
		{"a rolled-back checkpoint", func(t *testing.T, src string) {
			b, _ := os.ReadFile(filepath.Join(src, "checkpoint.300"))
			os.WriteFile(filepath.Join(src, "checkpoint"), b, 0o644)
			os.Remove(filepath.Join(src, "checkpoint.edge"))
		}, "older than the mirror", 600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dest := newDest(t)
			// The mirror's last good state: empty, at 300, or the whole fixture.
			switch tc.start {
			case 300:
				if _, err := New(logOf(t, at300(t)), dest).Round(ctx); err != nil {
					t.Fatal(err)
				}
			case 600:
				if _, err := New(logOf(t, filepath.Join(fixture, "log")), dest).Round(ctx); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := dest.ReadFile(ctx, "checkpoint")
			src := copyTree(t, filepath.Join(fixture, "log"))
			tc.edit(t, src)
			_, err := New(logOf(t, src), dest).Round(ctx)
			if !errors.Is(err, verifier.ErrFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("round over a hostile source: %v, want ErrFailed saying %q", err, tc.want)
			}
			if after, _ := dest.ReadFile(ctx, "checkpoint"); string(after) != string(before) {
				t.Error("the mirror's checkpoint changed after a refused round")
			}
		})
	}
}

// TestMirrorRefusesABundleAsItArrives: a bundle that is not the log's is
// refused before the next is fetched (the leaves are known from the
// level-0 tiles, checked against the root first), so a hostile source
// cannot make a round spool bundles up to the end before the root check.
func TestMirrorRefusesABundleAsItArrives(t *testing.T) {
	defer func(n uint64) { fetchAtOnce = n }(fetchAtOnce)
	fetchAtOnce = 1
	ctx := context.Background()
	src := copyTree(t, filepath.Join(fixture, "log"))
	p := filepath.Join(src, "tile/entries/000")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	var bundles []string
	dir := source.Dir(src)
	counting := source.Func{Name: src, Read: func(ctx context.Context, path string) ([]byte, error) {
		if strings.HasPrefix(path, "tile/entries/") {
			bundles = append(bundles, path)
		}
		return dir.Fetch(ctx, path)
	}}
	key, err := verifier.ParseKey(filepath.Join(fixture, "vkey"))
	if err != nil {
		t.Fatal(err)
	}
	_, dest := newDest(t)
	_, err = New(verifier.New(counting, key), dest).Round(ctx)
	if !errors.Is(err, verifier.ErrFailed) || !strings.Contains(err.Error(), "in tile/entries/000 from") {
		t.Fatalf("round over a source with a changed first bundle: %v, want it refused", err)
	}
	if len(bundles) != 1 {
		t.Errorf("the round fetched bundles %q before refusing the first", bundles)
	}
}

// TestMirrorRecoversFromCutRounds: what a round cut short leaves does not
// stop the next. (a) A file beyond the mirror's checkpoint, torn or empty
// (a power loss before the sync), is replaced by the verified bytes. (b)
// An edge file that does not hold the mirror's checkpoint (a run cut off
// between the two, or a second run behind this one) is rebuilt from the
// mirror's own tiles, even by an idle round.
func TestMirrorRecoversFromCutRounds(t *testing.T) {
	ctx := context.Background()
	dir, dest := newDest(t)
	if _, err := New(logOf(t, at300(t)), dest).Round(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"tile/entries/001", "tile/0/001"} {
		if err := dest.CreateFile(ctx, p, nil); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(fixture, "log")
	if _, err := New(logOf(t, src), dest).Round(ctx); err != nil {
		t.Fatalf("a round over empty leftovers: %v", err)
	}
	checkMirror(t, dir, 600)

	old, err := os.ReadFile(filepath.Join(at300(t), "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	stale := tiles.Edge{Checkpoint: old, Hashes: []tiles.Hash{{1}, {2}}}.Marshal()
	if err := os.WriteFile(filepath.Join(dir, tiles.EdgePath), stale, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(logOf(t, src), dest).Round(ctx); err != nil {
		t.Fatalf("an idle round over a stale edge: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, tiles.EdgePath))
	if err != nil {
		t.Fatal(err)
	}
	e, err := tiles.ParseEdge(b)
	cp, _ := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil || !bytes.Equal(e.Checkpoint, cp) {
		t.Fatalf("the edge after an idle round holds %q (%v), want the mirror's checkpoint", e.Checkpoint, err)
	}
	checkMirror(t, dir, 600)
}

// TestMirrorCopiesOnlyRulesThatParse: a source that answers a missing
// extra-subdivisions.txt with a page (status 200, as some static hosts
// do) does not give the mirror that page; a source without the file
// takes it from the mirror.
func TestMirrorCopiesOnlyRulesThatParse(t *testing.T) {
	ctx := context.Background()
	dir, dest := newDest(t)
	src := copyTree(t, filepath.Join(fixture, "log"))
	if _, err := New(logOf(t, src), dest).Round(ctx); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, verifier.ExtraSubdivisionsPath))
	if err != nil {
		t.Fatalf("the mirror has no %s: %v", verifier.ExtraSubdivisionsPath, err)
	}
	page := []byte("<!doctype html><title>Not found</title>\n")
	os.WriteFile(filepath.Join(src, verifier.ExtraSubdivisionsPath), page, 0o644)
	os.Remove(filepath.Join(dir, tiles.EdgePath)) // a round that writes
	os.Remove(filepath.Join(dir, "checkpoint"))
	if _, err := New(logOf(t, src), dest).Round(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, verifier.ExtraSubdivisionsPath)); !bytes.Equal(b, good) {
		t.Errorf("the mirror's %s became %q", verifier.ExtraSubdivisionsPath, b)
	}
	checkMirror(t, dir, 600)
	os.Remove(filepath.Join(src, verifier.ExtraSubdivisionsPath))
	os.Remove(filepath.Join(dir, "checkpoint"))
	if _, err := New(logOf(t, src), dest).Round(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, verifier.ExtraSubdivisionsPath)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the source dropped %s, the mirror keeps it: %v", verifier.ExtraSubdivisionsPath, err)
	}
}
