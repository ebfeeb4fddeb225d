package log

import (
	"context"
	"testing"
)

// BenchmarkReceipts measures the receipts of one 512-request batch, as
// citylog serve computes them before answering.
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
