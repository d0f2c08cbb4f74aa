// Package clock is the time a run reads and waits on: the wall clock in
// production, a fake one in tests. Every wait of a rollout (the poll
// between inspections, the delay between batches, the monitor window, the
// update timeout) goes through a Clock, so a test decides a ten-minute
// update timeout in milliseconds.
package clock

import (
	"context"
	"time"
)

// Clock tells the time and waits on it.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
	// WithTimeout returns a copy of ctx cancelled once d passed on this
	// clock, with context.DeadlineExceeded as its cause.
	WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc)
}

// Wall is the real time.
type Wall struct{}

var _ Clock = Wall{}

func (Wall) Now() time.Time { return time.Now() }

func (Wall) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (Wall) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// Or is c, or the wall clock when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return Wall{}
	}
	return c
}
