package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/internal/clock"
	"github.com/drover-sh/drover/planner"
)

// rollingUpdate replaces replicas in the batches the rollout ro decided,
// each batch gated on its replicas staying up (and healthy) for the monitor
// window. A failure past max_failure_ratio triggers failure_action.
func (c *Cluster) rollingUpdate(ctx context.Context, replaces []planner.Action, ro planner.Rollout, svc, prev *cluster.Service, w *World, opt ApplyOptions, out Outcome) (Outcome, error) {
	pol := ro.Policy
	// --timeout wins over the service's x-drover.update_timeout, which
	// wins over the default.
	timeout := opt.UpdateTimeout
	if timeout <= 0 {
		timeout = svc.UpdateTimeout
	}
	if timeout <= 0 {
		timeout = DefaultUpdateTimeout
	}
	uctx, cancel := clock.Or(c.Clock).WithTimeout(ctx, timeout)
	defer cancel()

	var done []started // replaced in this run, for rollback
	failures := 0
	var firstFailure string
	var firstErr error
	stopFirst := ro.StopFirst
	if ro.Fallback != "" {
		c.report(Event{Kind: EventWarning, Service: svc.FullName(), Message: ro.Fallback})
	}
	all := batchesOf(ro, replaces)
	began := c.now()
	for i, batch := range all {
		var err error
		if i > 0 && pol.Delay > 0 {
			err = c.sleep(uctx, pol.Delay)
		}
		var news []started
		if err == nil {
			c.report(Event{Kind: EventBatch, Service: svc.FullName(), Message: fmt.Sprintf("batch %d of %d: %d replica(s), %s, %s elapsed", i+1, len(all), len(batch),
				map[bool]cluster.UpdateOrder{true: cluster.StopFirst, false: cluster.StartFirst}[stopFirst], c.now().Sub(began).Round(100*time.Millisecond))})
			news, err = c.replaceBatch(uctx, w, batch, svc, opt, stopFirst)
		}
		if err == nil {
			var ready func()
			if c.Mesh != nil {
				// The mesh routes the new replicas as soon as they are
				// ready (running, or healthy with a healthcheck), as
				// Swarm does, not once the monitor window passed: a
				// stop-first update of one replica is unreachable for
				// the time it takes to be ready, not that plus monitor.
				ready = func() { c.Mesh.Started(uctx) }
			}
			err = c.waitHealthy(uctx, w, news, svc, pol.Monitor, opt.Poll, ready)
		}
		if err == nil && !stopFirst {
			// start-first: the old replicas go only once the new ones passed.
			_, err = c.forEach(uctx, batch, func(ctx context.Context, a planner.Action) error {
				return c.remove(ctx, w, planner.Action{Kind: planner.Remove, Host: a.Host, Service: a.Service, Slot: a.Slot, Old: a.Old}, grace(svc))
			})
		}
		done = append(done, news...)
		if err == nil {
			out.Replaced += len(news)
			continue
		}
		timedOut := uctx.Err() != nil && ctx.Err() == nil
		if timedOut {
			err = &UpdateTimeoutError{After: timeout}
		}
		if ctx.Err() != nil { // interrupted: the next run continues from here
			out.State, out.Reason = cluster.UpdateFailed, "interrupted"
			return out, ctx.Err()
		}
		failures += len(batch)
		if firstErr == nil {
			firstErr, firstFailure = err, err.Error()
		}
		c.report(Event{Kind: EventActionFailed, Service: svc.FullName(), Message: err.Error(), Err: err})
		if !stopFirst {
			// The old replicas still run: drop the failed new ones.
			c.dropStarted(ctx, w, news)
			done = done[:len(done)-len(news)]
		}
		step := afterFailure(pol, failures, len(replaces), timedOut, prev != nil)
		switch step {
		case goOn:
			continue
		case rollBack:
			n, rerr := c.rollback(ctx, w, done, prev, opt)
			out.RolledBack = n
			out.State, out.Reason = cluster.UpdateRollbackCompleted, firstFailure
			if rerr != nil {
				out.State = cluster.UpdateFailed
				out.Reason = firstFailure + "; rollback failed: " + rerr.Error()
				firstErr = errors.Join(firstErr, rerr)
			}
		case pauseNoPrevious:
			out.State, out.Reason = cluster.UpdatePaused, firstFailure+" (no previous generation to roll back to)"
		default:
			out.State, out.Reason = cluster.UpdatePaused, firstFailure
		}
		return out, &UpdateError{Service: svc.FullName(), State: out.State, Reason: out.Reason, Err: firstErr}
	}
	if failures > 0 {
		out.Reason = fmt.Sprintf("%d replica(s) failed: %s", failures, firstFailure)
		if failedAtEnd(pol, failures, len(replaces)) {
			out.State = cluster.UpdateFailed
			return out, &UpdateError{Service: svc.FullName(), State: out.State, Reason: out.Reason, Err: firstErr}
		}
	}
	return out, nil
}

func grace(svc *cluster.Service) time.Duration {
	if svc != nil && svc.Container.StopGracePeriod != nil {
		return *svc.Container.StopGracePeriod
	}
	return 0
}

// replaceBatch starts the batch's new replicas; stop-first removes each old
// one just before.
func (c *Cluster) replaceBatch(ctx context.Context, w *World, batch []planner.Action, svc *cluster.Service, opt ApplyOptions, stopFirst bool) ([]started, error) {
	news := make([]started, len(batch))
	ok := make([]bool, len(batch))
	_, err := c.fanOut(ctx, len(batch), func(ctx context.Context, i int) error {
		b := batch[i]
		if stopFirst {
			if err := c.remove(ctx, w, b, grace(svc)); err != nil {
				return err
			}
		}
		s, err := c.create(ctx, w, b, svc, opt)
		if err != nil {
			return err
		}
		news[i], ok[i] = s, true
		return nil
	})
	var got []started
	for i := range news {
		if ok[i] {
			got = append(got, news[i])
		}
	}
	return got, err
}

// batchesOf are the actions of the rollout's batches.
func batchesOf(ro planner.Rollout, replaces []planner.Action) [][]planner.Action {
	bySlot := make(map[string]planner.Action, len(replaces))
	for _, a := range replaces {
		bySlot[a.Slot] = a
	}
	out := make([][]planner.Action, 0, len(ro.Batches))
	for _, slots := range ro.Batches {
		batch := make([]planner.Action, 0, len(slots))
		for _, slot := range slots {
			if a, ok := bySlot[slot]; ok {
				batch = append(batch, a)
			}
		}
		out = append(out, batch)
	}
	return out
}

// dropStarted removes containers this run started.
func (c *Cluster) dropStarted(ctx context.Context, w *World, list []started) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, s := range list {
		if eng := w.Engines[s.host]; eng != nil {
			err := eng.Remove(cctx, s.id, time.Second)
			c.reportDone(planner.Remove, s.host, "", s.slot, s.name, err)
		}
	}
}

// rollback puts the previous generation back on every slot this run
// replaced, with rollback_config's policy.
func (c *Cluster) rollback(ctx context.Context, w *World, done []started, prev *cluster.Service, opt ApplyOptions) (int, error) {
	var actions []planner.Action
	for _, s := range done {
		actions = append(actions, planner.Action{
			Kind: planner.Replace, Service: prev.FullName(), Stack: prev.Stack, Slot: s.slot, Host: s.host,
			Old: &cluster.Replica{ID: s.id, Name: s.name, Host: s.host, Slot: s.slot}, Generation: prev.Generation,
			Reason: "rollback",
		})
	}
	if len(actions) == 0 {
		return 0, nil
	}
	rb := *prev
	rb.Update = prev.Rollback
	rb.Update.FailureAction = cluster.FailurePause
	rctx := context.WithoutCancel(ctx)
	c.report(Event{Kind: EventBatch, Service: prev.FullName(), Message: fmt.Sprintf("rolling back %d replica(s) to generation %d", len(actions), prev.Generation)})
	out, err := c.rollingUpdate(rctx, actions, planner.PlanRollout(&rb, rb.Update, actions), &rb, nil, w, opt, Outcome{})
	return out.Replaced, err
}
