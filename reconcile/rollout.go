package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/planner"
)

// started is a container this run created.
type started struct {
	host, id, name, slot string
	old                  *cluster.Replica // the replica it replaces, if any
	at                   time.Time
}

// applyService carries out one service's actions: removals, then new
// replicas, then replacements in the plan's rolling batches (ro).
func (c *Cluster) applyService(ctx context.Context, actions []planner.Action, ro planner.Rollout, svc, prev *cluster.Service, w *World, opt ApplyOptions) (Outcome, error) {
	out := Outcome{Service: actions[0].Service, State: cluster.UpdateCompleted}
	var removes, moveRemoves, creates, recreates, replaces []planner.Action
	moved := map[string]bool{}
	for _, a := range actions {
		if a.Kind == planner.Create && a.From != "" {
			moved[a.Slot] = true
		}
	}
	for _, a := range actions {
		switch a.Kind {
		case planner.Remove:
			if moved[a.Slot] {
				moveRemoves = append(moveRemoves, a)
			} else {
				removes = append(removes, a)
			}
		case planner.Create:
			creates = append(creates, a)
		case planner.Replace:
			if planner.Rolls(&a) {
				replaces = append(replaces, a)
			} else {
				recreates = append(recreates, a)
			}
		}
	}
	var errs []error
	// Removals first: they free ports and capacity for what follows.
	n, err := c.forEach(ctx, removes, func(ctx context.Context, a planner.Action) error {
		return c.remove(ctx, w, a, grace(svc))
	})
	out.Removed += n
	errs = append(errs, err)
	if svc == nil || ctx.Err() != nil {
		return out, errors.Join(errs...)
	}
	n, err = c.forEach(ctx, creates, func(ctx context.Context, a planner.Action) error {
		_, err := c.create(ctx, w, a, svc, opt)
		return err
	})
	out.Created += n
	errs = append(errs, err)
	n, err = c.forEach(ctx, recreates, func(ctx context.Context, a planner.Action) error {
		if err := c.remove(ctx, w, a, grace(svc)); err != nil {
			return err
		}
		_, err := c.create(ctx, w, a, svc, opt)
		return err
	})
	out.Replaced += n
	errs = append(errs, err)
	n, err = c.forEach(ctx, moveRemoves, func(ctx context.Context, a planner.Action) error {
		return c.remove(ctx, w, a, grace(svc))
	})
	out.Removed += n
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil || len(replaces) == 0 {
		if err != nil {
			out.State = cluster.UpdateFailed
			out.Reason = firstLine(err.Error())
		}
		return out, err
	}
	if ro.Service == "" {
		// A plan made without rollouts (by hand, in tests).
		ro = planner.PlanRollout(svc, svc.Update, replaces)
	}
	return c.rollingUpdate(ctx, replaces, ro, svc, prev, w, opt, out)
}

// forEach runs fn over actions in parallel (bounded) and counts successes.
func (c *Cluster) forEach(ctx context.Context, actions []planner.Action, fn func(context.Context, planner.Action) error) (int, error) {
	return c.fanOut(ctx, len(actions), func(ctx context.Context, i int) error { return fn(ctx, actions[i]) })
}

// fanOut runs fn(0..n-1) in parallel (bounded by Parallel), stops starting
// new work once ctx is done, and counts successes.
func (c *Cluster) fanOut(ctx context.Context, n int, fn func(context.Context, int) error) (int, error) {
	errs := fanout.N(ctx, c.Parallel, n, fn)
	done := 0
	for _, err := range errs {
		if err == nil {
			done++
		}
	}
	errs = fanout.Started(errs)
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return done, errors.Join(errs...)
}

func (c *Cluster) remove(ctx context.Context, w *World, a planner.Action, grace time.Duration) error {
	eng := w.Engines[a.Host]
	if eng == nil {
		return fmt.Errorf("%s: host is not reachable", a.Host)
	}
	c.report(Event{Kind: EventActionStart, Action: planner.Remove, Host: a.Host, Service: a.Service, Slot: a.Slot, Container: a.Old.Name, Message: a.Reason})
	if c.Mesh != nil && a.Old.Running() {
		c.Mesh.BeforeStop(ctx, a.Old)
	}
	err := eng.Remove(ctx, a.Old.ID, grace)
	c.reportDone(planner.Remove, a.Host, a.Service, a.Slot, a.Old.Name, err)
	if err != nil {
		return fmt.Errorf("remove %s on %s: %w", a.Old.Name, a.Host, err)
	}
	return nil
}

func (c *Cluster) reportDone(kind planner.Kind, host, service, slot, name string, err error) {
	ev := Event{Kind: EventActionDone, Action: kind, Host: host, Service: service, Slot: slot, Container: name}
	if err != nil {
		ev.Kind = EventActionFailed
		ev.Err = err
		ev.Message = firstLine(err.Error())
	}
	c.report(ev)
}

// create starts the new container of a create or replace action.
func (c *Cluster) create(ctx context.Context, w *World, a planner.Action, svc *cluster.Service, opt ApplyOptions) (started, error) {
	eng := w.Engines[a.Host]
	if eng == nil {
		return started{}, fmt.Errorf("%s: host is not reachable", a.Host)
	}
	name := a.ContainerName(opt.NewID())
	c.report(Event{Kind: EventActionStart, Action: planner.Create, Host: a.Host, Service: a.Service, Slot: a.Slot, Container: name, Message: a.Reason})
	spec := &svc.Container
	if c.Mesh != nil {
		if hosts := c.Mesh.ExtraHosts(svc); len(hosts) > 0 {
			cp := svc.Container
			cp.ExtraHosts = append(append([]string(nil), cp.ExtraHosts...), hosts...)
			spec = &cp
		}
	}
	id, err := eng.Create(ctx, engine.Container{Name: name, Labels: labelsFor(eng.Cluster, svc, a.Slot), Spec: spec})
	c.reportDone(planner.Create, a.Host, a.Service, a.Slot, name, err)
	if err != nil {
		// A container that was created but failed to start would block
		// the name and linger: remove it.
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		eng.Remove(cleanup, name, time.Second)
		cancel()
		return started{}, fmt.Errorf("create %s on %s: %w", name, a.Host, err)
	}
	return started{host: a.Host, id: id, name: name, slot: a.Slot, old: a.Old, at: c.now()}, nil
}
