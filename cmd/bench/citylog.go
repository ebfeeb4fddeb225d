package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/citylog/citylog/internal/store/s3store"
	"github.com/citylog/citylog/log"
)

// importCitylog imports the requests in file in into the log in out,
// creating it first if create is set. With $CITYLOG_BENCH_S3 set
// (s3://BUCKET/PREFIX, the AWS_* variables saying where), the public tree
// is in that bucket and out holds the private state.
func importCitylog(ctx context.Context, in, out string, create bool) error {
	var store log.Storage
	if u := os.Getenv("CITYLOG_BENCH_S3"); u != "" {
		cfg, err := s3store.FromEnv(u)
		if err != nil {
			return err
		}
		s, err := s3store.New(cfg)
		if err != nil {
			return err
		}
		store = s
	}
	if create {
		skey, err := log.GenerateKey("bench.citylog.example/log")
		if err != nil {
			return err
		}
		if _, _, err := log.InitStore(ctx, out, skey, store); err != nil {
			return err
		}
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	// Peak RSS counts the page cache pages of the dedup index's levels
	// that lookups touched (the kernel may drop them at any time); the
	// peak of anonymous memory is what the process itself holds.
	var peakAnon atomic.Uint64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			peakAnon.Store(max(peakAnon.Load(), uint64(procStatus(os.Getpid(), "RssAnon"))))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	opening, cpu0 := time.Now(), cpuTime()
	cfg := log.Config{Dir: out, Store: store}
	if store != nil {
		cfg.Workers = 16
	}
	w, err := log.Open(ctx, cfg)
	if err != nil {
		return err
	}
	start, cpu1 := time.Now(), cpuTime()
	stats, err := w.Import(ctx, f, log.ImportOptions{}, func(lr log.LineResult) error {
		if lr.Err != nil {
			return fmt.Errorf("line %d: %w", lr.Line, lr.Err)
		}
		return nil
	})
	imported, cpu2 := time.Now(), cpuTime()
	// As citylog import does: the identifier index and the dedup index are
	// written together.
	if err == nil {
		err = w.Finish(ctx)
	} else {
		w.Close()
	}
	finished, cpu3 := time.Now(), cpuTime()
	// Each phase with the CPU time it used (user and system, all cores):
	// a phase that used less than two seconds of CPU per second left a
	// core idle.
	fmt.Fprintf(os.Stderr, "citylog phases (wall/cpu): open %.2f/%.2f s, import %.2f/%.2f s, identifier index and dedup save %.2f/%.2f s; peak anonymous memory %.0f MiB\n",
		start.Sub(opening).Seconds(), (cpu1 - cpu0).Seconds(), imported.Sub(start).Seconds(), (cpu2 - cpu1).Seconds(),
		finished.Sub(imported).Seconds(), (cpu3 - cpu2).Seconds(), float64(peakAnon.Load()))
	if err == nil && stats.Allocated != stats.Lines {
		err = fmt.Errorf("allocated %d of %d lines", stats.Allocated, stats.Lines)
	}
	return err
}

// cpuTime returns the CPU time (user and system) the process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
