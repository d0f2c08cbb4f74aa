package reconcile

import (
	"errors"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func TestAfterFailure(t *testing.T) {
	for _, tc := range []struct {
		action            cluster.FailureAction
		ratio             float64
		failures, total   int
		timedOut, hasPrev bool
		want              failureStep
	}{
		{"pause", 0, 1, 4, false, true, pause},
		{"pause", 0.5, 2, 4, false, true, goOn}, // within the ratio
		{"pause", 0.5, 3, 4, false, true, pause},
		{"pause", 0.5, 1, 4, true, true, pause}, // timed out: stop whatever the ratio
		{"continue", 0, 4, 4, false, false, goOn},
		{"continue", 0, 1, 4, true, false, pause},
		{"rollback", 0, 1, 4, false, true, rollBack},
		{"rollback", 0, 1, 4, false, false, pauseNoPrevious},
		{"rollback", 0.25, 1, 4, false, true, goOn},
		{"rollback", 0.25, 1, 4, true, true, rollBack},
	} {
		pol := cluster.UpdatePolicy{FailureAction: tc.action, MaxFailureRatio: tc.ratio}
		if got := afterFailure(pol, tc.failures, tc.total, tc.timedOut, tc.hasPrev); got != tc.want {
			t.Errorf("%s ratio %v, %d of %d failed, timed out %v, previous %v: step %d, want %d",
				tc.action, tc.ratio, tc.failures, tc.total, tc.timedOut, tc.hasPrev, got, tc.want)
		}
	}
}

func TestFailedAtEnd(t *testing.T) {
	pol := cluster.UpdatePolicy{FailureAction: "continue", MaxFailureRatio: 0.5}
	for failures, want := range []bool{false, false, false, true, true} {
		if got := failedAtEnd(pol, failures, 4); got != want {
			t.Errorf("%d of 4 failed, max ratio 0.5: failed %v, want %v", failures, got, want)
		}
	}
}

// The health gate on a fake clock: no waiting, every branch.
func TestGateJudge(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	newGate := func() *gate {
		return &gate{monitor: 5 * time.Second, limit: 30 * time.Second, begin: t0,
			startedAt: map[string]time.Time{"a": t0.Add(time.Second)}, readySince: map[string]time.Time{}}
	}
	running := cluster.Replica{ID: "a", Name: "demo_web.1.x", State: cluster.StateRunning}
	for _, tc := range []struct {
		name    string
		r       func(r *cluster.Replica)
		at      time.Duration // after t0
		passed  bool
		failure string
	}{
		{"running, window open since docker start", nil, 6 * time.Second, true, ""},
		{"running, window not yet over", nil, 5 * time.Second, false, ""},
		{"exited", func(r *cluster.Replica) { r.State, r.ExitCode = cluster.StateExited, 3 }, time.Second, false, "replica demo_web.1.x on h1 exited (code 3)"},
		{"restarted", func(r *cluster.Replica) { r.Restarts = 1 }, time.Second, false, "replica demo_web.1.x on h1 restarted"},
		{"unhealthy", func(r *cluster.Replica) { r.Health = "unhealthy" }, time.Second, false, "replica demo_web.1.x on h1 is unhealthy"},
		{"starting within the limit", func(r *cluster.Replica) { r.Health = "starting" }, 30 * time.Second, false, ""},
		{"starting past the limit", func(r *cluster.Replica) { r.Health = "starting" }, 31 * time.Second, false, "replica demo_web.1.x on h1 did not become healthy within 30s"},
		{"created, not running yet", func(r *cluster.Replica) { r.State = cluster.StateCreated }, time.Minute, false, ""},
		// With a healthcheck the window opens when it is first seen healthy.
		{"healthy, window opens now", func(r *cluster.Replica) { r.Health = "healthy" }, time.Minute, false, ""},
	} {
		g, r := newGate(), running
		if tc.r != nil {
			tc.r(&r)
		}
		passed, err := g.judge(&r, "h1", t0.Add(tc.at))
		msg := ""
		if err != nil {
			msg = err.Error()
			if rf := (*ReplicaFailedError)(nil); !errors.As(err, &rf) || rf.Host != "h1" || rf.Replica != r.Name {
				t.Errorf("%s: %#v is not a ReplicaFailedError naming the replica and host", tc.name, err)
			}
		}
		if passed != tc.passed || msg != tc.failure {
			t.Errorf("%s: passed %v, err %q; want %v, %q", tc.name, passed, msg, tc.passed, tc.failure)
		}
	}
	// A healthy replica passes once it has stayed so for the monitor window.
	g, r := newGate(), running
	r.Health = "healthy"
	for _, step := range []struct {
		at   time.Duration
		want bool
	}{{10 * time.Second, false}, {14 * time.Second, false}, {15 * time.Second, true}} {
		if passed, err := g.judge(&r, "h1", t0.Add(step.at)); err != nil || passed != step.want {
			t.Errorf("healthy at +%s: passed %v (%v), want %v", step.at, passed, err, step.want)
		}
	}
}
