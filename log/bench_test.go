package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/citylog/citylog/log/idshard"
)

// GenerateRequests writes n distinct, valid request lines shaped like
// real cities (two identifiers and a location each).
func generateRequests(n int) []byte {
	subs := [][2]string{{"CN", "HE"}, {"FR", "IDF"}, {"DE", "BY"}, {"US", "CA"}, {"IN", "TG"}, {"BR", "SP"}, {"VA", "0"}}
	var buf bytes.Buffer
	for i := 0; i < n; i++ {
		s := subs[i%len(subs)]
		fmt.Fprintf(&buf, `{"country":%q,"subdivision":%q,"name":"Generated City %d","ids":["geonames:%d","national:%s:bench:%d"],"lat":%.4f,"lon":%.4f}`+"\n",
			s[0], s[1], i, i+1, s[0], i, float64(i%18000)/100-90, float64(i%36000)/100-180)
	}
	return buf.Bytes()
}

// benchRoot holds the logs benchmarks create; TestMain removes it when
// every benchmark has run. Removing each log as its benchmark ends (as
// t.TempDir does) would slow the next one: on ext4 without a journal,
// files created within minutes of a large deletion cost up to ten times
// the system time (see README, Benchmarks).
var benchRoot string

func TestMain(m *testing.M) {
	code := m.Run()
	if benchRoot != "" {
		os.RemoveAll(benchRoot)
	}
	os.Exit(code)
}

// newBenchLog creates a log that lives until the test binary exits.
func newBenchLog(b *testing.B) string {
	b.Helper()
	if benchRoot == "" {
		var err error
		if benchRoot, err = os.MkdirTemp("", "citylog-bench-"); err != nil {
			b.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp(benchRoot, "log-")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Init(dir, testOrigin); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkImport: n generated requests into a fresh log. "import" is
// Writer.Import alone: every entry allocated and durably published.
// "whole" adds Finish, as citylog import ends: the identifier index
// published and the dedup index saved — the job the 500k/s
// target is about.
func BenchmarkImport(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		input := generateRequests(n)
		for _, whole := range []bool{false, true} {
			name := fmt.Sprintf("%d/import", n)
			if whole {
				name = fmt.Sprintf("%d/whole", n)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(input)))
				for b.Loop() {
					b.StopTimer()
					dir := newBenchLog(b)
					w := openLog(b, dir)
					b.StartTimer()
					stats, err := w.Import(context.Background(), bytes.NewReader(input), ImportOptions{}, func(LineResult) error { return nil })
					if err != nil || stats.Allocated != n {
						b.Fatalf("%+v %v", stats, err)
					}
					if whole {
						err = w.Finish(context.Background())
					} else {
						b.StopTimer()
						err = w.Close()
						b.StartTimer()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			})
		}
	}
}

// BenchmarkRebuildIDIndex: the public identifier index rebuilt from the
// entry bundles of a 200,000-entry log, as after a crash or when the
// index is missing or damaged.
func BenchmarkRebuildIDIndex(b *testing.B) {
	const n = 200_000
	ctx := context.Background()
	dir := newBenchLog(b)
	w := openLog(b, dir)
	defer w.Close()
	if _, err := w.Import(ctx, bytes.NewReader(generateRequests(n)), ImportOptions{}, func(LineResult) error { return nil }); err != nil {
		b.Fatal(err)
	}
	meta := filepath.Join(dir, PublicDir, idshard.MetaPath)
	for b.Loop() {
		if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
		if err := w.PublishIDIndex(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
