package site

import (
	"context"
	"fmt"
	"testing"

	"github.com/citylog/citylog/log/entry"
)

// benchRequests are n requests with the sample's real names (again with
// a number past the sample's 25,000), spread over the world as the
// sample is: the worst case for an update, which touches a page per
// subdivision and a leaf per name prefix it meets.
func benchRequests(b *testing.B, n int) []entry.Request {
	sample := sampleRequests(b, 25000)
	out := make([]entry.Request, n)
	for i := range out {
		r := sample[i%len(sample)]
		r.IDs = []string{fmt.Sprintf("national:%s:bench:%d", r.Country, i)}
		if k := i / len(sample); k > 0 {
			r.Name = fmt.Sprintf("%s %d", r.Name, k)
		}
		out[i] = r
	}
	return out
}

// BenchmarkUpdate16k times the site's update after a batch of 16,384
// new cities from all over the world, on a log of 100,000 (set the sizes
// back to production's).
func BenchmarkUpdate16k(b *testing.B) { benchmarkUpdate(b, "") }

// BenchmarkUpdate16kNational: the same with batches of one country's
// cities (a national registry's import), which touch its subdivisions'
// pages only.
func BenchmarkUpdate16kNational(b *testing.B) { benchmarkUpdate(b, "US") }

func benchmarkUpdate(b *testing.B, country string) {
	pageSize, csvPart, leafCapacity = 100, 4096, 128
	defer func() { pageSize, csvPart, leafCapacity = 20, 300, 24 }()
	ctx := context.Background()
	const base, batch = 100_000, 16_384
	l := newTestLog(b, 0)
	l.reqs = benchRequests(b, base)
	if country == "" {
		l.reqs = benchRequests(b, base+batch*(b.N+1))
	} else {
		var national []entry.Request
		for _, r := range sampleRequests(b, 25000) {
			if r.Country == country {
				national = append(national, r)
			}
		}
		for i := range batch * (b.N + 1) {
			r := national[i%len(national)]
			r.IDs = []string{fmt.Sprintf("national:%s:batch:%d", r.Country, i)}
			r.Name = fmt.Sprintf("%s %d", r.Name, i/len(national)+1)
			l.reqs = append(l.reqs, r)
		}
	}
	l.grow(b, base, batch)
	_, st := siteDir(b)
	if _, err := Build(ctx, l.config(b, st)); err != nil {
		b.Fatal(err)
	}
	files := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		l.grow(b, batch, batch)
		b.StartTimer()
		rep, err := Update(ctx, l.config(b, st))
		if err != nil {
			b.Fatal(err)
		}
		files += rep.Files
	}
	b.ReportMetric(float64(files)/float64(b.N), "files/op")
}

// BenchmarkBuild100k times a full build of the site of a log of 100,000
// cities with production sizes.
func BenchmarkBuild100k(b *testing.B) {
	pageSize, csvPart, leafCapacity = 100, 4096, 128
	defer func() { pageSize, csvPart, leafCapacity = 20, 300, 24 }()
	ctx := context.Background()
	l := newTestLog(b, 0)
	l.reqs = benchRequests(b, 100_000)
	l.grow(b, 100_000, 16384)
	b.ResetTimer()
	for range b.N {
		_, st := siteDir(b)
		if _, err := Build(ctx, l.config(b, st)); err != nil {
			b.Fatal(err)
		}
	}
}
