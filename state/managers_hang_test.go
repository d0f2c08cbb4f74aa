package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// bounded fails the test if fn does not return within limit: a hung
// manager must cost an operation bounded time.
func bounded(t *testing.T, what string, limit time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("%s still running after %s with one manager hung", what, limit)
	}
}

func TestManagersOneHungManager(t *testing.T) {
	ctx := context.Background()
	for _, hung := range []string{"h1", "h3"} { // the first manager is special to Lock
		t.Run(hung, func(t *testing.T) {
			c := newFakeCluster("h1", "h2", "h3")
			mustWrite(t, c.managers(nil), stateAt("lin", 1, "one"))
			thaw := c.host(hung).freeze()
			defer thaw()
			var lag lagRecorder
			m := c.managers(nil)
			m.Now = nil
			m.OpTimeout = time.Hour // the grace after a majority, not the deadline, must end the wait
			m.answerWait = 20 * time.Millisecond
			m.TTL = 600 * time.Millisecond
			m.OnLagging = lag.record
			const limit = 10 * time.Second // generous: "does not hang"

			var lk Lock
			bounded(t, "lock", limit, func() {
				var err error
				if lk, err = m.Lock(ctx, LockInfo{Owner: "alice@lap"}); err != nil {
					t.Error(err)
				}
			})
			if lk == nil {
				return
			}
			var s *State
			bounded(t, "read", limit, func() {
				var err error
				if s, err = m.Read(ctx); err != nil {
					t.Error(err)
				}
			})
			if s == nil {
				return
			}
			if got := lag.take(); got != hung+"=-1" {
				t.Errorf("lagging %q", got)
			}
			s.Serial++
			bounded(t, "write", limit, func() {
				if err := m.Write(ctx, s); err != nil {
					t.Error(err)
				}
			})
			// Renewal goes on: the lease outlives several TTLs.
			time.Sleep(1500 * time.Millisecond)
			select {
			case <-lk.Lost():
				t.Error("lease lost: renewal blocked by the hung manager")
			default:
			}
			bounded(t, "lock status", limit, func() {
				info, err := m.LockStatus(ctx)
				if err != nil || info == nil || info.ID != lk.Info().ID {
					t.Errorf("lock status %+v, %v", info, err)
				}
			})
			bounded(t, "release", limit, func() {
				err := lk.Release(ctx)
				if hung != "h1" && err != nil {
					t.Errorf("release: %v", err) // h3 never carried the lease
				}
			})
		})
	}
}

// With the deadline shorter than the grace, the deadline ends the wait and
// says so.
func TestManagersOpTimeout(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	mustWrite(t, c.managers(nil), stateAt("lin", 1, "one"))
	thaw := c.host("h2").freeze()
	defer thaw()
	thaw3 := c.host("h3").freeze()
	defer thaw3()
	m := c.managers(nil)
	m.OpTimeout = 50 * time.Millisecond
	var err error
	bounded(t, "read", 10*time.Second, func() { _, err = m.Read(ctx) })
	var nq *QuorumError
	if !errors.As(err, &nq) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("read with two hung: %v", err)
	}
	var na *NoAnswerError
	if !errors.As(err, &na) || !na.Deadline || !strings.Contains(err.Error(), "h2: timeout") {
		t.Errorf("error %v (%+v)", err, na)
	}
}
