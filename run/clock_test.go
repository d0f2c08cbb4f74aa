package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/reconcile"
)

// runPolled runs req with inspections every poll of the lab's fake clock.
func (l *lab) runPolled(req Request, poll time.Duration) (*Result, error) {
	l.t.Helper()
	d := l.deps()
	d.Poll = poll
	req.Command = "test"
	return Execute(context.Background(), d, req)
}

func (l *lab) batchEvents() []string {
	l.rep.mu.Lock()
	defer l.rep.mu.Unlock()
	var out []string
	for _, e := range l.rep.events {
		if e.Kind == reconcile.EventBatch {
			out = append(out, e.Message)
		}
	}
	return out
}

// A rollout's monitor windows and the delay between its batches pass on
// the run's clock: a minute and more of rollout in no real time.
func TestRolloutWaitsOnTheClock(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	began := l.clock.Now()
	res, err := l.runPolled(Request{Mutate: deploy(web(2, imageV2, func(s *cluster.Service) {
		s.Update.Monitor, s.Update.Delay = 30*time.Second, 5*time.Second
	}))}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Result.Services[0]; o.State != "completed" || o.Replaced != 2 {
		t.Fatalf("outcome %+v", o)
	}
	// Two monitor windows, one delay, a poll or so each.
	if took := l.clock.Now().Sub(began); took < 65*time.Second || took > 70*time.Second {
		t.Fatalf("the rollout took %s on the clock, want 65s and a little", took)
	}
	batches := l.batchEvents()
	if len(batches) != 2 || !strings.HasSuffix(batches[0], ", 0s elapsed") || !strings.Contains(batches[1], "batch 2 of 2") {
		t.Fatalf("batch events %q", batches)
	}
	if e := batches[1]; !strings.HasSuffix(e, "s elapsed") || strings.HasSuffix(e, " 0s elapsed") {
		t.Fatalf("the second batch began at no time: %q", e)
	}
}

// An update that does not finish within its update_timeout (here a
// monitor window longer than the timeout) fails when the clock passes
// it, and failure_action rollback puts the previous generation back.
func TestRolloutTimeoutRollsBackOnTheClock(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	began := l.clock.Now()
	res, err := l.runPolled(Request{Mutate: deploy(web(2, imageV2, func(s *cluster.Service) {
		s.Update.Monitor, s.Update.FailureAction, s.UpdateTimeout = time.Hour, "rollback", 10*time.Minute
	}))}, time.Second)
	if err == nil {
		t.Fatal("an update past its timeout succeeded")
	}
	o := res.Result.Services[0]
	if o.State != "rollback_completed" || o.RolledBack != 1 || !strings.Contains(o.Reason, "update did not finish within 10m0s (update_timeout)") {
		t.Fatalf("outcome %+v", o)
	}
	if took := l.clock.Now().Sub(began); took < 10*time.Minute || took > 11*time.Minute {
		t.Fatalf("the rollout took %s on the clock, want 10m and a little", took)
	}
	for _, h := range l.names {
		for _, c := range l.inspectAll(h) {
			if c.Image != imageV1 || c.State != "running" {
				t.Fatalf("%s: %s runs %s (%s) after the rollback", h, c.Name, c.Image, c.State)
			}
		}
	}
	if got := l.read().Stacks["demo"].Services["web"].Update; got == nil || got.State != "rollback_completed" {
		t.Fatalf("state's update status %+v", got)
	}
}

// A replica that stays "starting" fails once the health limit (docker's
// defaults: 3 × (30s + 30s)) passed on the clock; failure_action pause.
func TestRolloutHealthLimitOnTheClock(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.fakes {
		h.SetBehaviour(imageV2, enginetest.ImageBehaviour{Health: "starting"})
	}
	began := l.clock.Now()
	res, err := l.runPolled(Request{Mutate: deploy(web(2, imageV2))}, time.Second)
	if err == nil {
		t.Fatal("a replica that never became healthy passed")
	}
	o := res.Result.Services[0]
	if o.State != "paused" || !strings.Contains(o.Reason, "did not become healthy within 3m0s") {
		t.Fatalf("outcome %+v", o)
	}
	if took := l.clock.Now().Sub(began); took < 3*time.Minute || took > 3*time.Minute+5*time.Second {
		t.Fatalf("the health wait took %s on the clock, want 3m and a little", took)
	}
}

// Failed batches go on while the failure ratio stays within
// max_failure_ratio, and the rollout pauses past it: 1/4 and 2/4 go on,
// 3/4 is over 0.5.
func TestRolloutFailureRatio(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(4, imageV1))}); err != nil {
		t.Fatal(err)
	}
	for _, h := range l.fakes {
		h.SetBehaviour(imageV2, enginetest.ImageBehaviour{ExitImmediately: true, ExitCode: 3})
	}
	res, err := l.runPolled(Request{Mutate: deploy(web(4, imageV2, func(s *cluster.Service) {
		s.Update.MaxFailureRatio = 0.5
	}))}, time.Second)
	if err == nil {
		t.Fatal("a rollout past its failure ratio succeeded")
	}
	if o := res.Result.Services[0]; o.State != "paused" || o.Replaced != 0 {
		t.Fatalf("outcome %+v", o)
	}
	if batches := l.batchEvents(); len(batches) != 3 || !strings.HasPrefix(batches[2], "batch 3 of 4") {
		t.Fatalf("batches %q", batches)
	}
}
