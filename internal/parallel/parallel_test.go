package parallel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestEachRunsAllWithinTheLimit(t *testing.T) {
	var running, peak, calls atomic.Int64
	seen := make([]atomic.Bool, 100)
	err := Each(context.Background(), 100, 3, func(_ context.Context, i int) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer running.Add(-1)
		calls.Add(1)
		seen[i].Store(true)
		return nil
	})
	if err != nil || calls.Load() != 100 || peak.Load() > 3 {
		t.Fatalf("err %v, %d calls, %d at once; want nil, 100, at most 3", err, calls.Load(), peak.Load())
	}
	for i := range seen {
		if !seen[i].Load() {
			t.Fatalf("call %d never ran", i)
		}
	}
}

func TestEachStopsAtTheFirstError(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	var cancelled atomic.Bool
	err := Each(context.Background(), 1000, 2, func(ctx context.Context, i int) error {
		calls.Add(1)
		switch i {
		case 0:
			<-ctx.Done() // a call still running sees the cancellation
			cancelled.Store(true)
		case 1:
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 4 || !cancelled.Load() {
		t.Fatalf("err %v after %d calls, running call cancelled %v; want boom after a few, cancelled", err, calls.Load(), cancelled.Load())
	}
}

func TestEachHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int64
	err := Each(ctx, 100, 4, func(context.Context, int) error { calls.Add(1); return nil })
	if !errors.Is(err, context.Canceled) || calls.Load() != 0 {
		t.Fatalf("err %v after %d calls; want context.Canceled and none", err, calls.Load())
	}
}
