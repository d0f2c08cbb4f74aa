package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Deadlines. A manager that hangs (a frozen sshd, a stuck disk, a network
// that drops packets without resetting) must cost one operation a bounded
// time, and must not hold up the others: every per-manager operation has a
// deadline (Managers.OpTimeout), and a fan-out over the managers returns
// once a majority has answered plus a short grace for the rest, so one hung
// manager of three costs the grace, not the deadline.
const (
	// DefaultOpTimeout bounds one operation on one manager (connect
	// included) unless Managers.OpTimeout says otherwise.
	DefaultOpTimeout = 10 * time.Second
	// defaultAnswerGrace is how long a fan-out waits for the remaining
	// managers once a majority has answered: long enough for healthy
	// managers answering a few round trips apart, short enough that a
	// hung one is not noticed by the user.
	defaultAnswerGrace = 200 * time.Millisecond
)

// NoAnswerError is a manager that did not answer in time. It matches
// context.DeadlineExceeded. The operation may still complete on the manager
// later (SFTP cannot take back a request already sent).
type NoAnswerError struct {
	Host  string
	After time.Duration
	// Deadline is true when the manager's own deadline passed, false when
	// the fan-out stopped waiting for it because a majority had answered.
	Deadline bool
}

func (e *NoAnswerError) Error() string {
	if e.Deadline {
		return fmt.Sprintf("%s: no answer within %s (state.op_timeout)", e.Host, e.After.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s: no answer %s after a majority of managers had answered", e.Host, e.After.Round(time.Millisecond))
}

func (e *NoAnswerError) Unwrap() error { return context.DeadlineExceeded }

func (m *Managers) opTimeout() time.Duration {
	if m.OpTimeout > 0 {
		return m.OpTimeout
	}
	return DefaultOpTimeout
}

func (m *Managers) answerGrace() time.Duration {
	g := defaultAnswerGrace
	if m.answerWait > 0 {
		g = m.answerWait
	}
	// A grace longer than the deadline would make no difference.
	return min(g, m.opTimeout())
}

// outcome is one host's result of a fanout.
type outcome[T any] struct {
	Host string
	Val  T
	Err  error
}

// fanout runs fn on each host in parallel, with its connection and under
// the per-manager deadline. It returns when every host has answered, when
// need hosts have answered without error and the grace has passed since,
// or when the deadline has passed: hosts still running then get a
// *NoAnswerError, and their goroutines are abandoned (their context is
// cancelled; an SFTP call that ignores it ends when the run closes its
// connections). need <= 0 waits for all, up to the deadline. Results are
// in hosts' order.
//
// It is not internal/fanout's bounded Each, on purpose: it abandons
// goroutines that do not answer, and all managers (three or five) must be
// asked at once, since a majority is needed within one deadline; --parallel
// below the number of managers would turn one hung manager into a lost
// quorum.
func fanout[T any](ctx context.Context, m *Managers, hosts []string, need int, fn func(ctx context.Context, host string, rfs RemoteFS) (T, error)) []outcome[T] {
	return fanoutWithin(ctx, m, hosts, need, m.opTimeout(), fn)
}

// fanoutWithin is fanout with another deadline than the manager's.
func fanoutWithin[T any](ctx context.Context, m *Managers, hosts []string, need int, timeout time.Duration, fn func(ctx context.Context, host string, rfs RemoteFS) (T, error)) []outcome[T] {
	out := make([]outcome[T], len(hosts))
	if len(hosts) == 0 {
		return out
	}
	opCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type done struct {
		i int
		r outcome[T]
	}
	ch := make(chan done, len(hosts)) // buffered: abandoned goroutines never block
	for i, h := range hosts {
		out[i].Host = h
		go func() {
			r := outcome[T]{Host: h}
			rfs, err := m.Open(opCtx, h)
			if err == nil && rfs == nil {
				err = errors.New("no connection")
			}
			if err != nil {
				r.Err = err
			} else {
				r.Val, r.Err = fn(opCtx, h, rfs)
			}
			ch <- done{i, r}
		}()
	}
	start := time.Now()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var grace <-chan time.Time
	got := make([]bool, len(hosts))
	answered, ok := 0, 0
	hitDeadline := false
	for answered < len(hosts) {
		select {
		case d := <-ch:
			out[d.i], got[d.i] = d.r, true
			answered++
			if d.r.Err == nil {
				ok++
				if need > 0 && ok == need && answered < len(hosts) {
					t := time.NewTimer(m.answerGrace())
					defer t.Stop()
					grace = t.C
				}
			}
			continue
		case <-grace:
		case <-deadline.C:
			hitDeadline = true
		case <-ctx.Done():
		}
		// Stopped waiting: the rest did not answer.
		for i := range hosts {
			if !got[i] {
				err := error(&NoAnswerError{Host: hosts[i], After: time.Since(start), Deadline: hitDeadline})
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				out[i].Err = err
			}
		}
		break
	}
	return out
}
