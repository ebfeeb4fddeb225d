package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/citylog/citylog/log"
)

func importCitylog(ctx context.Context, in, out string) error {
	if _, err := log.Init(out, "bench.citylog.example/log"); err != nil {
		return err
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
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
	fmt.Fprintf(os.Stderr, "citylog phases: import %.2f s, identifier index %.2f s, close %.2f s\n",
		imported.Sub(start).Seconds(), indexed.Sub(imported).Seconds(), time.Since(indexed).Seconds())
	if err == nil && stats.Allocated != stats.Lines {
		err = fmt.Errorf("allocated %d of %d lines", stats.Allocated, stats.Lines)
	}
	return err
}
