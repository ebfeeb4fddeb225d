package main

import (
	"context"
	"fmt"
	"os"

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
	stats, err := w.Import(ctx, f, log.ImportOptions{}, func(lr log.LineResult) error {
		if lr.Err != nil {
			return fmt.Errorf("line %d: %w", lr.Line, lr.Err)
		}
		return nil
	})
	if err == nil {
		err = w.PublishIDIndex(ctx)
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && stats.Allocated != stats.Lines {
		err = fmt.Errorf("allocated %d of %d lines", stats.Allocated, stats.Lines)
	}
	return err
}
