package clock

import (
	"context"
	"sync"
	"time"
)

// Fake is a clock that moves only when told to, or when something sleeps
// on it: Sleep moves it on by the time asked for at once, so the waits of
// a rollout take no real time and never freeze. Timeouts made with
// WithTimeout fire when the clock passes them.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

var _ Clock = (*Fake)(nil)

type fakeTimer struct {
	at   time.Time
	fire func()
}

// NewFake returns a fake clock that reads start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock on by d and fires the timeouts it passes.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	var due []func()
	kept := f.timers[:0]
	for _, t := range f.timers {
		if t.at.After(f.now) {
			kept = append(kept, t)
		} else {
			due = append(due, t.fire)
		}
	}
	f.timers = kept
	f.mu.Unlock()
	for _, fire := range due {
		fire()
	}
}

// Sleep moves the clock on by d (unless ctx is done already).
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.Advance(d)
	return ctx.Err()
}

func (f *Fake) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	f.mu.Lock()
	f.timers = append(f.timers, fakeTimer{at: f.now.Add(d), fire: func() { cancel(context.DeadlineExceeded) }})
	f.mu.Unlock()
	return ctx, func() { cancel(context.Canceled) }
}
