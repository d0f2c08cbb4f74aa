package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := NewFake(start)
	ctx, cancel := f.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := 0; i < 9; i++ {
		if err := f.Sleep(ctx, time.Minute); err != nil {
			t.Fatalf("minute %d: %v", i+1, err)
		}
	}
	if got := f.Now().Sub(start); got != 9*time.Minute {
		t.Fatalf("clock moved %s", got)
	}
	if err := f.Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		t.Fatalf("past the timeout: %v (cause %v)", err, context.Cause(ctx))
	}
	// A done context does not move the clock.
	if err := f.Sleep(ctx, time.Hour); err == nil || f.Now().Sub(start) != 10*time.Minute {
		t.Fatalf("slept on a done context: %v, %s", err, f.Now().Sub(start))
	}
}
