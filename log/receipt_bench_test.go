package log

import (
	"context"
	"testing"
)

// BenchmarkReceipts measures the receipts of one 512-request batch, as
// citylog serve computed them before BatchReceipts: from the stored tiles.
func BenchmarkReceipts(b *testing.B) {
	dir := newBenchLog(b)
	w := openLog(b, dir)
	defer w.Close()
	mustAllocate(b, w, genRequests(0, 100_000))
	mustAllocate(b, w, genRequests(100_000, 512))
	leaves := make([]uint64, 512)
	for i := range leaves {
		leaves[i] = uint64(100_000 + i)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := w.Receipts(context.Background(), leaves); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(leaves)), "µs/receipt")
}

// BenchmarkBatchReceipts measures the receipts of one 512-request batch
// as citylog serve computes them: from the batch's own hashes, each into
// a buffer its handler reuses.
func BenchmarkBatchReceipts(b *testing.B) {
	ctx := context.Background()
	dir := newBenchLog(b)
	w := openLog(b, dir)
	defer w.Close()
	mustAllocate(b, w, genRequests(0, 100_000))
	batch, err := w.Prepare(ctx, genRequests(100_000, 512))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := w.Publish(ctx, batch); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var buf []byte
	for b.Loop() {
		rs, err := w.BatchReceipts(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 512 {
			buf = rs.Append(buf[:0], i)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*512), "µs/receipt")
}
