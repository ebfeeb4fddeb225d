package log

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/citylog/citylog/tiles/source"
	"github.com/citylog/citylog/verifier"
)

// TestPartialsCollected: once a full tile exists, the partial tiles and
// bundles it replaces are removed; a verifier holding an older checkpoint
// (whose partials are gone) still proves inclusion in it and consistency
// with the current one, falling back to the full tiles, and so does the
// writer for receipts.
func TestPartialsCollected(t *testing.T) {
	ctx := context.Background()
	dir := newLog(t)
	pub := filepath.Join(dir, PublicDir)
	w := openLog(t, dir)
	defer w.Close()
	mustAllocate(t, w, genRequests(0, 100))
	old, err := os.ReadFile(filepath.Join(pub, CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"tile/0/000.p/100", "tile/entries/000.p/100"} {
		if _, err := os.Stat(filepath.Join(pub, p)); err != nil {
			t.Fatalf("%s before the tile is full: %v", p, err)
		}
	}
	mustAllocate(t, w, genRequests(100, 200)) // 300: tile 0 is full
	for _, p := range []string{"tile/0/000.p", "tile/entries/000.p"} {
		if _, err := os.Stat(filepath.Join(pub, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived its full tile: %v", p, err)
		}
	}
	for _, p := range []string{"tile/0/000", "tile/entries/000", "tile/0/001.p/44", "tile/entries/001.p/44"} {
		if _, err := os.Stat(filepath.Join(pub, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	key, err := verifier.ParseKey(filepath.Join(dir, StateDir, vkeyFile))
	if err != nil {
		t.Fatal(err)
	}
	l := verifier.New(source.Dir(pub), key)
	oldCP, err := verifier.OpenCheckpoint(old, key)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := l.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.ProveConsistency(ctx, oldCP, cur); err != nil {
		t.Errorf("consistency from size 100 after its partials were collected: %v", err)
	}
	if _, err := l.ProveInclusion(ctx, oldCP, 50); err != nil {
		t.Errorf("inclusion in the tree of size 100: %v", err)
	}
	if _, err := w.Receipts(ctx, []uint64{0, 150, 299}); err != nil {
		t.Errorf("receipts: %v", err)
	}
}
