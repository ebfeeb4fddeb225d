// Package parallel runs a loop's iterations on a few goroutines, for the
// I/O-bound fan-outs of both sides (writing a batch's tiles, publishing
// the identifier index, auditing it).
package parallel

import (
	"context"

	"golang.org/x/sync/errgroup"
)

// Each runs fn(ctx, 0) ... fn(ctx, n-1) on up to limit goroutines and
// returns the first error. After an error or a cancellation it starts no
// new call, and the ctx it passes to the calls still running is done.
func Each(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(limit, 1))
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error { return fn(gctx, i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
