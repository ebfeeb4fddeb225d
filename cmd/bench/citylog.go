package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/citylog/citylog/log"
)

// importCitylog imports the requests in file in into the log in out,
// creating it first if create is set.
func importCitylog(ctx context.Context, in, out string, create bool) error {
	if create {
		if _, err := log.Init(out, "bench.citylog.example/log"); err != nil {
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
	opening := time.Now()
	w, err := log.Open(ctx, log.Config{Dir: out})
	if err != nil {
		return err
	}
	start := time.Now()
	stats, err := w.Import(ctx, f, log.ImportOptions{}, func(lr log.LineResult) error {
		if lr.Err != nil {
			return fmt.Errorf("line %d: %w", lr.Line, lr.Err)
		}
		return nil
	})
	imported := time.Now()
	if err == nil {
		err = w.PublishIDIndex(ctx)
	}
	indexed := time.Now()
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	fmt.Fprintf(os.Stderr, "citylog phases: open %.2f s, import %.2f s, identifier index %.2f s, close %.2f s; peak anonymous memory %.0f MiB\n",
		start.Sub(opening).Seconds(), imported.Sub(start).Seconds(), indexed.Sub(imported).Seconds(), time.Since(indexed).Seconds(), float64(peakAnon.Load()))
	if err == nil && stats.Allocated != stats.Lines {
		err = fmt.Errorf("allocated %d of %d lines", stats.Allocated, stats.Lines)
	}
	return err
}
