//go:build unix

package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/citylog/citylog/log"
	"github.com/citylog/citylog/log/tokens"
)

// BenchmarkAllocate drives the whole write path, HTTP included, with 256
// clients on keep-alive connections over loopback, each with one request
// in flight, as cmd/bench -serve does with more, in one process that a
// profiler sees whole. cpu-µs/op is the CPU time of the process (server,
// clients and the kernel's work for both) per allocation: unlike the
// time per allocation, it does not depend on the disk's fsync latency.
func BenchmarkAllocate(b *testing.B) {
	const clients = 256
	dir := b.TempDir()
	if _, err := log.Init(dir, "bench.example/log"); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, log.StateDir, "tokens.json")
	token, err := tokens.Add(path, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	checker, err := tokens.NewChecker(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	w, err := log.Open(context.Background(), log.Config{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	s := New(w, Config{PublicDir: filepath.Join(dir, log.PublicDir), StateDir: filepath.Join(dir, log.StateDir),
		Tokens: checker, MaxBatch: 16384, Logger: slog.New(slog.DiscardHandler)})
	go s.Run()
	srv := httptest.NewUnstartedServer(s)
	// citylog serve's timeouts: each costs a deadline per request.
	srv.Config.ReadHeaderTimeout, srv.Config.ReadTimeout, srv.Config.WriteTimeout, srv.Config.IdleTimeout = 5*time.Second, 15*time.Second, time.Minute, 30*time.Second
	srv.Start()
	defer func() {
		srv.Close()
		s.Close()
		w.Close()
	}()
	addr := srv.Listener.Addr().String()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	b.ResetTimer()
	cpu0 := cpuTime()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			var req []byte
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				body := fmt.Sprintf(`{"country":"DE","subdivision":"BY","name":"Bench %d","ids":["geonames:%d"]}`, i, i)
				req = fmt.Appendf(req[:0], "POST /api/v1/allocate HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, token, len(body), body)
				if _, err := conn.Write(req); err != nil {
					errs <- err
					return
				}
				if err := readAnswer(r); err != nil {
					errs <- fmt.Errorf("client %d: %w", c, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// readAnswer reads one 200 answer with a Content-Length.
func readAnswer(r *bufio.Reader) error {
	status, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status %q", status)
	}
	length := -1
	for {
		h, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if v, ok := bytes.CutPrefix(h, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(v))
		}
	}
	if length < 0 {
		return fmt.Errorf("answer without Content-Length")
	}
	_, err = io.CopyN(io.Discard, r, int64(length))
	return err
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
