package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
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
	opening, cpu0 := time.Now(), cpuTime()
	w, err := log.Open(ctx, log.Config{Dir: out})
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
		start.Sub(opening).Seconds(), cpu1-cpu0, imported.Sub(start).Seconds(), cpu2-cpu1,
		finished.Sub(imported).Seconds(), cpu3-cpu2, float64(peakAnon.Load()))
	if err == nil && stats.Allocated != stats.Lines {
		err = fmt.Errorf("allocated %d of %d lines", stats.Allocated, stats.Lines)
	}
	return err
}

// cpuTime returns the CPU seconds (user and system) the process used so far.
func cpuTime() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
