// Command bench is citylog's benchmark command. By default it imports the
// same N generated city requests into a fresh citylog log and into a fresh
// log of Tessera's POSIX driver, each in its own process, and reports wall
// time, throughput, peak RSS, and the files and bytes each wrote. Other
// modes time cityverify code over loopback HTTP (-verify N), drive citylog
// serve with concurrent clients (-serve CLIENTS) and time a full audit by
// cityverify monitor (-audit N), import N new requests into a kept
// 10M-entry log (-grow), to show what the log's size costs an import, and
// time the web site's full build and updates (-site N).
//
// It lives in its own Go module so that Tessera and its dependencies stay
// out of citylog's go.mod. Run it from this directory:
//
//	go run . -n 1000000
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/citylog/citylog/log"
)

type result struct {
	System     string  `json:"system"`
	Entries    int     `json:"entries"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"entries_per_second"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	Files      int     `json:"files"`
	MiB        float64 `json:"mib_written"`
}

func main() {
	n := flag.Int("n", 1_000_000, "number of requests to import")
	systems := flag.String("systems", "citylog,tessera", "comma-separated systems to run: citylog, tessera")
	asJSON := flag.Bool("json", false, "print results as JSON lines")
	work := flag.String("dir", "", "working directory (default: a new temporary directory, removed afterwards)")
	verifyN := flag.Int("verify", 0, "instead of the import benchmark: time cityverify code on a log of this many entries over loopback HTTP")
	runs := flag.Int("runs", 20, "with -verify: codes to check")
	serveClients := flag.Int("serve", 0, "instead of the import benchmark: drive citylog serve with this many concurrent clients")
	duration := flag.Duration("duration", 10*time.Second, "with -serve: how long to drive the server")
	interval := flag.Duration("interval", 0, "with -serve: the server's --interval (default 0: its default, group commit)")
	versitygw := flag.String("versitygw", filepath.Join("..", "..", ".bin", "versitygw"), "the versitygw binary for the citylog-s3 system and -serve -s3")
	serveS3 := flag.Bool("s3", false, "with -serve: the server's public tree in a bucket of a versitygw started for the run")
	withSite := flag.Bool("with-site", false, "with -serve: give the log a web site first (citylog site), which the server then keeps up to date while it is driven")
	flood := flag.Int("flood", 0, "with -serve: also hold this many slow connections from 127.0.0.1 (headers a byte at a time, reconnecting), the clients dialing from 127.0.0.2")
	siteN := flag.Int("site", 0, "instead of the import benchmark: time the web site on a log of this many cities (a full build, then -updates updates after batches of 16,384); the log is kept in -dir")
	siteUpdates := flag.Int("updates", 5, "with -site: batches of 16,384 to import, timing the site's update after each")
	siteCodes := flag.Int("codes", 7, "with -site: codes across the log to verify in headless Chromium, each with a cold cache")
	siteTimeline := flag.Bool("timeline", false, "with -site: print what each code page fetched, and when")
	siteBuild := flag.Bool("build", true, "with -site: time a full build of the site first; -build=false keeps the site of the log in -dir as it is")
	mirrorN := flag.Int("mirror", 0, "instead of the import benchmark: time a first cityverify mirror of a log of this many entries into a versitygw bucket and into a directory")
	auditN := flag.Int("audit", 0, "instead of the import benchmark: time a full cityverify monitor audit of a log of this many entries")
	grow := flag.Bool("grow", false, "instead of the import benchmark: import -n new requests into a kept log of at least -base entries (it grows by -n each run)")
	base := flag.Int("base", 10_000_000, "with -grow: entries in the kept log the first time")
	child := flag.String("child", "", "internal: run one import in this process")
	in := flag.String("in", "", "internal: input file")
	out := flag.String("out", "", "internal: output directory")
	cpuProfile := flag.String("cpuprofile", "", "with -child or -grow: write a CPU profile of the import to this file")
	flag.Parse()
	if *child != "" {
		os.Exit(childMain(*child, *in, *out, *cpuProfile))
	}
	// defaultWork returns the working directory: the -dir flag, or a
	// directory of this name under the system's temporary directory.
	defaultWork := func(name string) string {
		if *work != "" {
			return *work
		}
		d := filepath.Join(os.TempDir(), name)
		os.MkdirAll(d, 0o755)
		return d
	}
	var err error
	switch {
	case *siteN > 0:
		err = benchSite(*siteN, *siteUpdates, *siteCodes, *siteBuild, *siteTimeline, defaultWork("citylog-bench-site"))
	case *mirrorN > 0:
		err = benchMirror(*mirrorN, defaultWork("citylog-bench-mirror"), *versitygw)
	case *auditN > 0:
		err = benchAudit(*auditN, defaultWork("citylog-bench-audit"))
	case *serveClients > 0:
		err = benchServe(*serveClients, *flood, *duration, *interval, defaultWork(""), s3Bin(*serveS3, *versitygw), *withSite)
	case *grow:
		err = benchGrow(*n, *base, defaultWork("citylog-bench-grow"), *cpuProfile)
	case *verifyN > 0:
		err = benchVerify(*verifyN, *runs, defaultWork("citylog-bench-verify"))
	default:
		err = runBench(*n, splitComma(*systems), *work, *asJSON, *versitygw)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		os.Exit(1)
	}
}

// childMain runs one import in this process (optionally profiled) and
// returns the exit status.
func childMain(system, in, out, cpuProfile string) int {
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer stop()
	}
	if err := runChild(system, in, out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// s3Bin returns the versitygw binary if the run wants a bucket.
func s3Bin(want bool, bin string) string {
	if want {
		return bin
	}
	return ""
}

func runBench(n int, systems []string, work string, asJSON bool, versitygw string) error {
	if work == "" {
		tmp, err := os.MkdirTemp("", "citylog-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		work = tmp
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	input := filepath.Join(work, "requests.jsonl")
	if err := generate(input, n); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %d requests in %s\n", n, input)
	var results []result
	for _, sys := range systems {
		outDir := filepath.Join(work, sys)
		cmd := exec.Command(os.Args[0], "-child", sys, "-in", input, "-out", outDir)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		var srv *s3Server
		if sys == "citylog-s3" {
			var err error
			if srv, err = startS3(versitygw, work); err != nil {
				return err
			}
			cmd.Env = append(append(os.Environ(), srv.env...), "CITYLOG_BENCH_S3=s3://"+benchBucket+"/log")
		}
		start := time.Now()
		if err := cmd.Run(); err != nil {
			if srv != nil {
				srv.stop()
			}
			return fmt.Errorf("%s: %w", sys, err)
		}
		elapsed := time.Since(start).Seconds()
		files, bytes := countFiles(outDir)
		rss := ranPeakRSS(cmd)
		if srv != nil {
			objects, objBytes := countFiles(srv.dir)
			fmt.Fprintf(os.Stderr, "citylog-s3: %d objects (%.1f MiB) in the bucket, %.0f objects/s; versitygw peak RSS %.1f MiB\n",
				objects, float64(objBytes)/(1<<20), float64(objects)/elapsed, peakRSS(srv.pid()))
			files, bytes = files+objects, bytes+objBytes
			srv.stop()
		}
		r := result{sys, n, elapsed, float64(n) / elapsed, rss, files, float64(bytes) / (1 << 20)}
		results = append(results, r)
		if asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		} else {
			fmt.Printf("%-8s %9d entries  %7.2f s  %9.0f entries/s  peak RSS %6.1f MiB  %6d files  %8.1f MiB written\n",
				r.System, r.Entries, r.Seconds, r.PerSecond, r.PeakRSSMiB, r.Files, r.MiB)
		}
		// Outputs are removed only at the end: deleting thousands of files
		// right before the next run slows its inode allocation (ext4 skips
		// recently deleted inodes), which would skew the comparison.
	}
	if len(results) == 2 && !asJSON {
		fmt.Printf("%s is %.1fx faster than %s on the same %d entries\n", results[0].System, results[1].Seconds/results[0].Seconds, results[1].System, n)
	}
	return nil
}

func runChild(system, in, out string) error {
	ctx := context.Background()
	switch system {
	case "citylog":
		return importCitylog(ctx, in, out, true)
	case "citylog-s3":
		return importCitylog(ctx, in, out, true)
	case "citylog-append":
		return importCitylog(ctx, in, out, false)
	case "tessera":
		return importTessera(ctx, in, out)
	}
	return fmt.Errorf("unknown system %q (want citylog or tessera)", system)
}

// startCPUProfile profiles this process until the returned stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// generate writes n distinct, valid request lines shaped like real
// cities (two identifiers and a location each) to path. It streams, so the
// parent's memory does not inflate the children's peak RSS (Linux keeps
// ru_maxrss across exec).
func generate(path string, n int) error { return generateFrom(path, 0, n) }

// generateFrom writes the generated requests from, from+1, ... (n of
// them): a log holding the first ones takes the next as new.
func generateFrom(path string, from, n int) error {
	subs := [][2]string{{"CN", "HE"}, {"FR", "IDF"}, {"DE", "BY"}, {"US", "CA"}, {"IN", "TG"}, {"BR", "SP"}, {"VA", "0"}}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := from; i < from+n; i++ {
		s := subs[i%len(subs)]
		fmt.Fprintf(w, `{"country":%q,"subdivision":%q,"name":"Generated City %d","ids":["geonames:%d","national:%s:bench:%d"],"lat":%.4f,"lon":%.4f}`+"\n",
			s[0], s[1], i, i+1, s[0], i, float64(i%18000)/100-90, float64(i%36000)/100-180)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func countFiles(dir string) (files int, bytes int64) {
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				files++
				bytes += info.Size()
			}
		}
		return nil
	})
	return files, bytes
}

func splitComma(s string) []string {
	var out []string
	for _, f := range bytes.Split([]byte(s), []byte(",")) {
		if len(f) > 0 {
			out = append(out, string(f))
		}
	}
	return out
}

// buildLog imports input into a new log at dir in a child process, so this
// process stays small: Linux carries a parent's peak RSS into the rusage
// of the children it forks, which would inflate later measurements.
func buildLog(input, dir string) error {
	cmd := exec.Command(os.Args[0], "-child", "citylog", "-in", input, "-out", dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// cachedLog returns a log of n generated entries under work, building it
// the first time (in a child process) and keeping it for later runs.
func cachedLog(n int, work string) (string, error) {
	dir := filepath.Join(work, fmt.Sprintf("log-%d", n))
	if _, err := os.Stat(filepath.Join(dir, log.StateDir)); err == nil {
		// Opening the writer brings a log kept from an older citylog up
		// to date (it rewrites the edge file, for one).
		w, err := log.Open(context.Background(), log.Config{Dir: dir})
		if err != nil {
			return "", err
		}
		return dir, w.Close()
	}
	input := filepath.Join(work, fmt.Sprintf("requests-%d.jsonl", n))
	fmt.Fprintf(os.Stderr, "bench: building a %d-entry log in %s (kept for later runs)\n", n, dir)
	if err := generate(input, n); err != nil {
		return "", err
	}
	defer os.Remove(input)
	return dir, buildLog(input, dir)
}

// buildCommand builds one of the main module's commands into work.
func buildCommand(name, work string) (string, error) {
	bin := filepath.Join(work, name)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join("..", name) // built with the main module's own go.mod
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return bin, nil
}
