package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/idcode"
)

// benchVerify measures cityverify code against a log of n entries served
// over loopback HTTP: requests, bytes and wall time (process start
// included), cold (empty cache) and warm (cache filled by the cold run).
func benchVerify(n, runs int, work string) error {
	dir, err := cachedLog(n, work)
	if err != nil {
		return err
	}
	bin, err := buildCommand("cityverify", work)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var reqs, bytes int64
	files := http.StripPrefix("/log", http.FileServer(http.Dir(filepath.Join(dir, log.PublicDir))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		files.ServeHTTP(cw, r)
		mu.Lock()
		reqs++
		bytes += cw.n
		mu.Unlock()
	})}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/log"
	vkey, err := os.ReadFile(filepath.Join(dir, log.StateDir, "vkey"))
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	subs := [][2]string{{"CN", "HE"}, {"FR", "IDF"}, {"DE", "BY"}, {"US", "CA"}, {"IN", "TG"}, {"BR", "SP"}, {"VA", "0"}}
	type sample struct {
		ms          float64
		reqs, bytes int64
	}
	var cold, warm []sample
	for i := 0; i < runs; i++ {
		idx := rng.Uint64N(uint64(n))
		s := subs[idx%uint64(len(subs))]
		code, _ := idcode.New(s[0], s[1], idx)
		cache := filepath.Join(work, fmt.Sprintf("cache-%d", i))
		for _, phase := range []*[]sample{&cold, &warm} {
			mu.Lock()
			r0, b0 := reqs, bytes
			mu.Unlock()
			start := time.Now()
			out, err := exec.Command(bin, "code", code.String(), "--log", url, "--key", strings.TrimSpace(string(vkey)), "--cache", cache).CombinedOutput()
			el := time.Since(start)
			if err != nil {
				return fmt.Errorf("cityverify code %s: %v\n%s", code, err, out)
			}
			mu.Lock()
			*phase = append(*phase, sample{float64(el.Microseconds()) / 1000, reqs - r0, bytes - b0})
			mu.Unlock()
		}
		os.RemoveAll(cache)
	}
	for _, p := range []struct {
		name string
		s    []sample
	}{{"cold", cold}, {"warm", warm}} {
		ms := make([]float64, len(p.s))
		var maxReq, sumReq, sumBytes int64
		for i, s := range p.s {
			ms[i] = s.ms
			maxReq = max(maxReq, s.reqs)
			sumReq += s.reqs
			sumBytes += s.bytes
		}
		sort.Float64s(ms)
		fmt.Printf("cityverify code, %d-entry log over loopback HTTP, %s: median %.1f ms (p90 %.1f ms), requests mean %.1f max %d, bytes mean %.0f  [%d runs]\n",
			n, p.name, ms[len(ms)/2], ms[len(ms)*9/10], float64(sumReq)/float64(len(p.s)), maxReq, float64(sumBytes)/float64(len(p.s)), len(p.s))
	}
	return nil
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}
