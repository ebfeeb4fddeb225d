package witness

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAddCheckpointHTTP measures add-checkpoint over loopback HTTP:
// signature check, consistency check, cosigning, and the durable state
// write before each answer (which dominates).
func BenchmarkAddCheckpointHTTP(b *testing.B) {
	w, _ := newWitness(b, b.TempDir())
	srv := httptest.NewServer(w)
	defer srv.Close()
	first := body(b, 0, 15, checkpointN(b, 15))
	if r := w.AddCheckpoint(first); r.Status != 200 {
		b.Fatal(r.Status)
	}
	again := body(b, 15, 15, checkpointN(b, 15))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := http.Post(srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(again))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checkpoints/s")
}
