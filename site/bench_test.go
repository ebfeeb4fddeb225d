package site

import (
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"syscall"
	"testing"
	"time"

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

// productionSizes sets the sizes of the site's files to production's
// for one benchmark.
func productionSizes(b *testing.B) {
	ps, lp, cp, lc, tc, se := pageSize, logPageSize, csvPart, leafCapacity, tailChunk, settleEvery
	b.Cleanup(func() {
		pageSize, logPageSize, csvPart, leafCapacity, tailChunk, settleEvery = ps, lp, cp, lc, tc, se
	})
	pageSize, logPageSize, csvPart, leafCapacity, tailChunk, settleEvery = 100, 1024, 4096, 256, 1024, 1<<16
}

// BenchmarkUpdate16k times the site's update after a batch of 16,384
// new cities from all over the world, on a log of 100,000 (set the sizes
// back to production's).
func BenchmarkUpdate16k(b *testing.B) { benchmarkUpdate(b, "", Update) }

// BenchmarkUpdate16kNational: the same with batches of one country's
// cities (a national registry's import), which touch its subdivisions'
// pages only.
func BenchmarkUpdate16kNational(b *testing.B) { benchmarkUpdate(b, "US", Update) }

// BenchmarkRefresh16k: the same batches by Refresh, which serve runs after
// each publication: no settling until 2*settleEvery entries wait (with
// -benchtime 6x, none), so every figure is the path to a fresh site and a
// profile (-tagfocus phase=update) shows that path alone.
func BenchmarkRefresh16k(b *testing.B) { benchmarkUpdate(b, "", Refresh) }

func benchmarkUpdate(b *testing.B, country string, update func(context.Context, Config) (Report, error)) {
	productionSizes(b)
	ctx := context.Background()
	const base, batch = 65_537, 16_384
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
	var took, cpus []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		l.grow(b, batch, batch)
		b.StartTimer()
		start, cpu := time.Now(), cpuTime()
		var rep Report
		var err error
		// Labelled, so that a CPU profile can be narrowed to the updates
		// (go tool pprof -tagfocus phase=update).
		pprof.Do(ctx, pprof.Labels("phase", "update"), func(ctx context.Context) { rep, err = update(ctx, l.config(b, st)) })
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		cpus = append(cpus, cpuTime()-cpu)
		files += rep.Files
	}
	// One update in settleEvery/batch settles: the mean mixes two kinds.
	// CPU time (the process's, user and system) tells more than wall
	// time on a machine shared with other work.
	slices.Sort(took)
	slices.Sort(cpus)
	b.ReportMetric(float64(files)/float64(b.N), "files/op")
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "ms-max")
	b.ReportMetric(float64(cpus[len(cpus)/2].Milliseconds()), "cpu-ms-median")
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBuild100k times a full build of the site of a log of 100,000
// cities with production sizes.
func BenchmarkBuild100k(b *testing.B) {
	productionSizes(b)
	ctx := context.Background()
	l := newTestLog(b, 0)
	l.reqs = benchRequests(b, 100_000)
	l.grow(b, 100_000, 16384)
	b.ResetTimer()
	cpu := cpuTime()
	for range b.N {
		_, st := siteDir(b)
		if _, err := Build(ctx, l.config(b, st)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
}
