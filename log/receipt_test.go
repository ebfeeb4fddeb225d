package log

import (
	"bytes"
	"context"
	"testing"

	"github.com/citylog/citylog/log/entry"
)

// TestBatchReceipts: the receipts BatchReceipts builds from a batch's own
// hashes are byte for byte those Receipts builds from the stored tiles
// right after Publish, for batches of many sizes, starting and ending on
// both sides of tile boundaries (of level 0, and of level 1 at 65,536
// leaves), with refused requests, resubmissions of older entries and
// duplicates within the batch among them, and for a batch of no new entry.
// Append appends to what the buffer holds, and adds nothing for a refused
// request.
func TestBatchReceipts(t *testing.T) {
	ctx := context.Background()
	w := openLog(t, newLog(t))
	defer w.Close()
	next := 0
	batch := func(n int, extra ...entry.Request) {
		t.Helper()
		reqs := append(genRequests(next, n), extra...)
		next += n
		b, err := w.Prepare(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		results, err := w.Publish(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := w.BatchReceipts(ctx, b)
		if err != nil {
			t.Fatalf("batch of %d at size %d: %v", len(reqs), w.Size(), err)
		}
		var leaves []uint64
		for _, r := range results {
			if r.Err == nil {
				leaves = append(leaves, r.Index)
			}
		}
		want, err := w.Receipts(ctx, leaves)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for i, r := range results {
			if r.Err != nil {
				if got := rs.Append([]byte("x"), i); string(got) != "x" {
					t.Fatalf("request %d, refused (%v), has a receipt", i, r.Err)
				}
				continue
			}
			if got := rs.Append(nil, i); !bytes.Equal(got, want[k]) {
				t.Fatalf("batch of %d at size %d: receipt of leaf %d:\n%s\nReceipts gives:\n%s", len(reqs), w.Size(), r.Index, got, want[k])
			}
			k++
		}
	}
	refused := entry.Request{Country: "ZZ", Subdivision: "HE", Name: "Nowhere", IDs: []string{"geonames:999999999"}}
	for _, n := range []int{1, 1, 2, 250, 1, 256, 255, 257, 3, 1000, 511, 1} {
		old := genRequest(next / 2)
		old.Name += " resubmitted" // answered with the older entry, which differs
		dup := genRequest(next)    // the batch's first request again
		batch(n, refused, old, dup)
	}
	batch(0, genRequest(7), genRequest(next-1)) // no new entry
	// Across the first level-1 tile: 65,536 leaves.
	batch(65_536-300-next, refused)
	for _, n := range []int{299, 2, 1, 300} {
		batch(n, genRequest(next/3))
	}
}
