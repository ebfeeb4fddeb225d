package log

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/citylog/citylog/log/idshard"
)

func lookupPublished(t *testing.T, dir, id string) []uint64 {
	t.Helper()
	pub := filepath.Join(dir, PublicDir)
	mb, err := os.ReadFile(filepath.Join(pub, idshard.MetaPath))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := idshard.ParseMeta(mb)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(pub, idshard.Shard(id, meta.Bits)))
	if err != nil {
		t.Fatal(err)
	}
	lines, err := idshard.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return idshard.Lookup(lines, id)
}

func TestPublishIDIndex(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	mustAllocate(t, w, genRequests(0, 300))
	if err := w.PublishIDIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := lookupPublished(t, dir, "geonames:5"); len(got) != 1 || got[0] != 4 {
		t.Fatalf("geonames:5 -> %v", got)
	}
	// Incremental: a second batch, published by another writer session.
	mustAllocate(t, w, genRequests(300, 100))
	w.Close()
	w = openLog(t, dir)
	defer w.Close()
	mustAllocate(t, w, genRequests(400, 50))
	if err := w.PublishIDIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]uint64{"geonames:5": 4, "geonames:350": 349, "national:DE:test:420": 420} {
		if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != want {
			t.Errorf("%s -> %v, want %d", id, got, want)
		}
	}
}

// TestPublishIDIndexWhileCommitting: a server prepares and publishes
// batches while it brings the index up to date; the lines of a batch
// committed meanwhile must reach the index at the next publication.
func TestPublishIDIndexWhileCommitting(t *testing.T) {
	dir := newLog(t)
	w := openLog(t, dir)
	defer w.Close()
	ctx := context.Background()
	const batches, per = 20, 30
	for i := 0; i < batches; i++ {
		b, err := w.Prepare(ctx, genRequests(i*per, per))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := w.Publish(ctx, b); done <- err }()
		if err := w.PublishIDIndex(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := w.PublishIDIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < batches*per; i++ {
		id := fmt.Sprintf("geonames:%d", i+1)
		if got := lookupPublished(t, dir, id); len(got) != 1 || got[0] != uint64(i) {
			t.Fatalf("%s -> %v, want %d", id, got, i)
		}
	}
}
