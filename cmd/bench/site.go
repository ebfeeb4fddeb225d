package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// benchSite times the web site on a log of n cities with real names (the
// sample's 25,000, each again with a number, so that the name index sees
// a real spread of prefixes): a full build by citylog site --full (wall
// time, peak RSS, files and bytes it adds), then updates after batches of
// 16,384 new cities as citylog import makes them, and the home page's
// transfer size, compressed.
func benchSite(n, runs, codes int, build, timeline bool, work string) error {
	bin, err := buildCommand("citylog", work)
	if err != nil {
		return err
	}
	dir := filepath.Join(work, "site-log")
	input := filepath.Join(work, fmt.Sprintf("site-%d.jsonl", n))
	more := filepath.Join(work, "site-more.jsonl")
	if _, err := os.Stat(filepath.Join(dir, "state")); err != nil {
		if err := writeSiteRequests(input, 0, n); err != nil {
			return err
		}
		if out, err := exec.Command(bin, "init", "--dir", dir, "--origin", "bench.citylog.example/log").CombinedOutput(); err != nil {
			return fmt.Errorf("init: %v: %s", err, out)
		}
		fmt.Fprintf(os.Stderr, "importing %d cities into %s\n", n, dir)
		imp := exec.Command(bin, "import", "--dir", dir, input)
		imp.Stderr = os.Stderr
		if err := imp.Run(); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	size := logSize(bin, dir)
	if build {
		if err := benchSiteBuild(bin, dir, size); err != nil {
			return err
		}
	}
	var updates, settles []float64
	updated := regexp.MustCompile(`site updated: entries (\d+) to (\d+), (\d+) files in ([0-9.]+)s`)
	settled := regexp.MustCompile(`site settled: the lists hold entries 0 to (\d+), in ([0-9.]+)s more`)
	for r := range runs {
		if err := writeSiteRequests(more, int(size)+r*16384, 16384); err != nil {
			return err
		}
		imp := exec.Command(bin, "import", "--dir", dir, more)
		var stderr strings.Builder
		imp.Stderr = &stderr
		if err := imp.Run(); err != nil {
			return fmt.Errorf("import: %v: %s", err, stderr.String())
		}
		m := updated.FindStringSubmatch(stderr.String())
		if m == nil {
			return fmt.Errorf("import did not update the site: %s", stderr.String())
		}
		secs, _ := strconv.ParseFloat(m[4], 64)
		updates = append(updates, secs)
		settle := ""
		if s := settled.FindStringSubmatch(stderr.String()); s != nil {
			secs, _ := strconv.ParseFloat(s[2], 64)
			settles = append(settles, secs)
			settle = fmt.Sprintf("; then settled the lists to entry %s in %.0f ms more", s[1], secs*1000)
		}
		fmt.Printf("update after a batch of 16,384 (entries %s to %s): on the site after %.0f ms (%s files in all)%s\n", m[1], m[2], secs*1000, m[3], settle)
	}
	if len(updates) > 0 {
		sort.Float64s(updates)
		fmt.Printf("updates, until the new entries are on the site: median %.0f ms, min %.0f ms, max %.0f ms over %d batches\n",
			updates[len(updates)/2]*1000, updates[0]*1000, updates[len(updates)-1]*1000, len(updates))
	}
	if len(settles) > 0 {
		sort.Float64s(settles)
		fmt.Printf("settling the lists after an update: %d times in %d batches, median %.0f ms, max %.0f ms\n",
			len(settles), len(updates), settles[len(settles)/2]*1000, settles[len(settles)-1]*1000)
	}
	var total, raw int
	for _, f := range []string{"index.html", "site/style.css", "site/app.js", "site/verify.js", "site/rules.js"} {
		b, err := os.ReadFile(filepath.Join(dir, "public", f))
		if err != nil {
			return err
		}
		gz := gzipSize(b)
		total, raw = total+gz, raw+len(b)
		fmt.Printf("home page transfer: %-16s %7d bytes, %6d gzip\n", f, len(b), gz)
	}
	fmt.Printf("home page transfer: total %d bytes, %d gzip (map and chart included)\n", raw, total)
	return benchBrowserVerify(bin, dir, logSize(bin, dir), codes, timeline)
}

// benchSiteBuild times citylog site --full on the log in dir, of size
// entries.
func benchSiteBuild(bin, dir string, size uint64) error {
	before, beforeBytes := countSite(dir)
	cmd := exec.Command(bin, "site", "--dir", dir, "--full", "--json")
	cmd.Stderr = os.Stderr
	start := time.Now()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("site --full: %w", err)
	}
	elapsed := time.Since(start)
	rss := ranPeakRSS(cmd)
	files, bytes := countSite(dir)
	fmt.Printf("site --full on %d entries: %.2f s, peak RSS %.1f MiB, %d site files (%.1f MiB; %d and %.1f MiB before) %s",
		size, elapsed.Seconds(), rss, files, float64(bytes)/(1<<20), before, float64(beforeBytes)/(1<<20), out)
	return nil
}

// writeSiteRequests writes n requests from the sample, starting at the
// first-th: the sample's cities, then again with a number.
func writeSiteRequests(path string, first, n int) error {
	sample, err := os.ReadFile(filepath.Join("..", "..", "testdata", "cities.jsonl"))
	if err != nil {
		return err
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(sample))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return err
		}
		lines = append(lines, m)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := first; i < first+n; i++ {
		base := lines[i%len(lines)]
		m := map[string]any{"country": base["country"], "subdivision": base["subdivision"], "name": base["name"],
			"ids": []string{fmt.Sprintf("national:%s:bench:%d", base["country"], i)}}
		if r := i / len(lines); r > 0 {
			m["name"] = fmt.Sprintf("%s %d", base["name"], r)
		}
		if lat, ok := base["lat"]; ok {
			m["lat"], m["lon"] = lat, base["lon"]
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func logSize(bin, dir string) uint64 {
	out, _ := exec.Command(bin, "status", "--dir", dir, "--json").Output()
	var s struct{ Size uint64 }
	json.Unmarshal(out, &s)
	return s.Size
}

// countSite counts the site's files: the public tree but the log's own.
func countSite(dir string) (files int, size int64) {
	public := filepath.Join(dir, "public")
	filepath.WalkDir(public, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(public, p)
		if strings.HasPrefix(rel, "tile") || strings.HasPrefix(rel, "index"+string(filepath.Separator)) || strings.HasPrefix(rel, "checkpoint") || rel == "extra-subdivisions.txt" {
			return nil
		}
		if info, err := d.Info(); err == nil {
			files++
			size += info.Size()
		}
		return nil
	})
	return files, size
}

func gzipSize(b []byte) int {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Len()
}
