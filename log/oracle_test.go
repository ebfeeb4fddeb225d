package log

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/citylog/citylog/internal/store/dirstore"
	"github.com/citylog/citylog/tiles"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// TestOracleSumdbTlog recomputes the published tree with x/mod's sumdb/tlog,
// an independent implementation, from nothing but our entry bundles: the
// root must match the checkpoint and every hash tile we wrote, full or
// partial, must match byte for byte.
func TestOracleSumdbTlog(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 66,000 entries")
	}
	dir := newLog(t)
	w := openLog(t, dir)
	next := 0
	// Batch sizes chosen to end on, just before and just after tile
	// boundaries, and to complete a level-2 tile (65,536 leaves).
	for _, n := range []int{1, 254, 1, 1, 255, 257, 3000, 65536 - 3769, 1, 700} {
		mustAllocate(t, w, genRequests(next, n))
		next += n
	}
	size := w.Size()
	w.Close()
	checkEdge(t, dir)
	pub := filepath.Join(dir, PublicDir)

	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range publishedEntries(t, dir, size) {
		hs, err := tlog.StoredHashes(int64(i), e, reader)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	wantRoot, err := tlog.TreeHash(int64(size), reader)
	if err != nil {
		t.Fatal(err)
	}
	cpData, err := os.ReadFile(filepath.Join(pub, CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := os.ReadFile(filepath.Join(dir, StateDir, vkeyFile))
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cpData, note.VerifierList(v))
	if err != nil {
		t.Fatalf("checkpoint does not open with sumdb/note: %v", err)
	}
	cp, _, err := tiles.ParseCheckpoint([]byte(n.Text))
	if err != nil || cp.Size != size || cp.Root != tiles.Hash(wantRoot) || cp.Origin != testOrigin {
		t.Fatalf("checkpoint %+v (%v), want size %d root %v", cp, err, size, wantRoot)
	}

	checked := 0
	err = filepath.WalkDir(filepath.Join(pub, "tile"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(pub, path)
		tile, err := tiles.ParsePath(filepath.ToSlash(rel))
		if err != nil {
			t.Errorf("unexpected file %s: %v", rel, err)
			return nil
		}
		if !tile.Full() && !slices.Contains(tiles.EdgeTiles(size), tile) {
			t.Errorf("%s: a partial that a full tile replaced was not collected", rel)
		}
		if tile.Level == tiles.EntriesLevel {
			return nil
		}
		got, _ := os.ReadFile(path)
		want, err := tlog.ReadTileData(tlog.Tile{H: tiles.Height, L: tile.Level, N: int64(tile.Index), W: tile.Width}, reader)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from sumdb/tlog's tile", rel)
		}
		checked++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, et := range tiles.EdgeTiles(size) {
		if _, err := os.Stat(filepath.Join(pub, et.Path())); err != nil {
			t.Errorf("edge tile missing: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(pub, "tile/2/000.p/1")); err != nil {
		t.Errorf("level-2 tile missing: %v", err)
	}
	// Every full hash tile, and the partials at the right edge: the
	// partials of earlier sizes are gone.
	want := 0
	for n := size / tiles.Width; n > 0; n /= tiles.Width {
		want += int(n)
	}
	for _, et := range tiles.EdgeTiles(size) {
		if et.Level != tiles.EntriesLevel {
			want++
		}
	}
	if checked != want || want < 260 {
		t.Errorf("checked %d hash tiles, want %d", checked, want)
	}
	root, err := tiles.RootHash(context.Background(), storageReader{mustStore(t, pub)}, size)
	if err != nil || root != tiles.Hash(wantRoot) {
		t.Errorf("tiles.RootHash = %x, %v", root, err)
	}
}

func mustStore(t testing.TB, dir string) Storage {
	s, err := dirstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publishedEntries reads the first size entries of the log at dir from
// its public tree's bundles.
func publishedEntries(t testing.TB, dir string, size uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for bi := uint64(0); bi*tiles.Width < size; bi++ {
		bt := tiles.Tile{Level: tiles.EntriesLevel, Index: bi, Width: tiles.TileWidth(tiles.EntriesLevel, bi, size)}
		data, err := os.ReadFile(filepath.Join(dir, PublicDir, bt.Path()))
		if err != nil {
			t.Fatal(err)
		}
		entries, err := tiles.ParseBundle(data, bt.Width)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entries...)
	}
	return out
}
