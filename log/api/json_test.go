package api

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/citylog/citylog/internal/jsonquote"
	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/idcode"
)

// TestAllocateJSON holds appendAllocateResponse to the bytes that
// json.NewEncoder(w).Encode gives the same answer, with and without
// differences and with every kind of escape in every string.
func TestAllocateJSON(t *testing.T) {
	receipt := "c2sp.org/tlog-proof@v1\nextra eyJjb2RlIjoiREUtQlktMDAwMC1YIn0=\nindex 0\n\ncities.example.org/test\n1\nabc+/=\n\n— cities.example.org/test AbCd+/==\n"
	var results []log.Result
	for i, s := range jsonquote.Tricky {
		code := idcode.Code{Country: "DE", Subdivision: "BY", Index: uint64(i) * 1_000_003}
		results = append(results,
			log.Result{Code: code, Index: code.Index},
			log.Result{Code: code, Index: code.Index, Existing: true},
			log.Result{Code: code, Index: code.Index, Existing: true, Differs: &log.Differences{Name: s}},
			log.Result{Code: code, Index: code.Index, Existing: true, Differs: &log.Differences{Subdivision: s, IDs: []string{s, "geonames:1"}}},
			log.Result{Code: code, Index: code.Index, Existing: true, Differs: &log.Differences{Name: s, Subdivision: "BE", IDs: []string{s}}},
			log.Result{Code: code, Index: code.Index, Existing: true, Differs: &log.Differences{IDs: []string{s}}},
			log.Result{Code: code, Index: code.Index, Existing: true, Differs: &log.Differences{}},
		)
	}
	for _, r := range results {
		for _, rc := range append([]string{receipt}, jsonquote.Tricky...) {
			var want bytes.Buffer
			json.NewEncoder(&want).Encode(allocateResponse{r.Code.String(), r.Index, r.Existing, r.Differs, rc})
			if got := appendAllocateResponse(nil, r, []byte(rc)); !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("answer\n%s\nencoding/json:\n%s", got, want.Bytes())
			}
		}
	}
}

// BenchmarkAllocateJSON measures the encoding of an answer with a receipt
// of a log of a million entries.
func BenchmarkAllocateJSON(b *testing.B) {
	receipt := bytes.Repeat([]byte("AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/AbCdEf=\n"), 22)
	r := log.Result{Code: idcode.Code{Country: "DE", Subdivision: "BY", Index: 1_000_000}, Index: 1_000_000}
	var buf []byte
	for b.Loop() {
		buf = appendAllocateResponse(buf[:0], r, receipt)
	}
}
