package entry

import (
	"fmt"
	"testing"
)

// BenchmarkRequestPath is what the writer does to each import line on
// the parse workers: parse, normalise, encode the entry fields.
func BenchmarkRequestPath(b *testing.B) {
	rules := DefaultRules()
	lines := make([]string, 1024)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"country":"DE","subdivision":"BY","name":"Generated City %d","ids":["geonames:%d","national:DE:bench:%d"],"lat":%.4f,"lon":%.4f}`,
			i, i+1, i, float64(i%18000)/100-90, float64(i%36000)/100-180)
	}
	var fields []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		req, err := ParseRequestString(lines[i%len(lines)])
		if err == nil {
			err = rules.Normalize(&req)
		}
		if err != nil {
			b.Fatal(err)
		}
		fields = req.AppendFields(fields[:0])
	}
}
