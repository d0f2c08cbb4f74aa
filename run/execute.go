package run

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// Execute carries out one run: see the package doc for its steps. The
// result is never nil and holds what the run got to, also with an error.
func Execute(ctx context.Context, d Deps, req Request) (*Result, error) {
	out := &Result{}
	err := d.execute(ctx, req, out)
	return out, err
}

func (d *Deps) execute(ctx context.Context, req Request, out *Result) error {
	rep := d.reporter()
	var lost <-chan struct{}
	if !req.DryRun {
		lk, err := d.Lock(ctx, d.Store, req.Command)
		if err != nil {
			return err
		}
		defer lk.Release(context.WithoutCancel(ctx))
		// A run that lost its lock (another run took it over) stops
		// changing the cluster and does not write the state.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		lost = lk.Lost()
		go func() {
			select {
			case <-lost:
				rep.Notice(Notice{Level: LevelError, Message: "state lock lost: another run may have taken it over; stopping"})
				cancel(ErrLockLost)
			case <-ctx.Done():
			}
		}()
	}
	s, err := d.Read(ctx)
	if err != nil {
		return err
	}
	if req.CheckState != nil {
		if err := req.CheckState(s); err != nil {
			return err
		}
	}
	readLineage, readSerial := s.Lineage, s.Serial
	before, _ := state.Marshal(s)
	specsBefore := serviceSpecs(s)
	summary := ""
	if req.Mutate != nil {
		if summary, err = req.Mutate(s); err != nil {
			return err
		}
	}
	after, _ := state.Marshal(s)
	desiredChanged := string(before) != string(after)
	if req.ScopeOf != nil {
		req.Scope = req.ScopeOf(s)
	}

	cl := d.ClusterOf(s)
	w := cl.Observe(ctx)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	down := map[string]string{}
	for _, h := range w.Hosts {
		if !h.Node.Ready {
			down[h.Node.Name] = h.Node.Reason
		}
	}
	out.Serial, out.Down = s.Serial, down
	if s.Serial == 0 {
		// No state: a lost or misplaced state file must never read as an
		// empty cluster whose containers are all orphans.
		if err := d.checkNoState(s, w, req); err != nil {
			return err
		}
	}
	scope := d.scope(s, w, req)
	desired := DesiredOf(s)
	reconcile.DetectDrift(w, desired.Services)
	in := PlanInput(s, w, desired, scope, d.now())
	in.UnhealthyGrace, in.FixDrift, in.UseRollbackPolicy = req.UnhealthyGrace, req.FixDrift, req.UseRollbackPolicy
	p := req.Plan
	if p != nil {
		// A saved plan is carried out as it was reviewed, or not at all.
		if req.CheckWorld != nil {
			if err := req.CheckWorld(w); err != nil {
				return err
			}
		}
	} else {
		if d.Platforms != nil {
			in.ImagePlatforms, in.HostImagePlatforms = d.Platforms(ctx, w, s.Services(), req.PushLocal)
		}
		in.ImagePlatforms, in.HostImagePlatforms = withShipped(in.ImagePlatforms, in.HostImagePlatforms, req.ImagePlatforms)
		if p, err = planner.Compute(in); err != nil {
			return refused(req.DryRun, err)
		}
		// A new desired state that no inventoried node could ever run is a
		// mistake in the spec: refuse it before anything changes. Shortages
		// that time mends only leave replicas pending.
		if ue := unsatisfiableChanges(p, specsBefore, serviceSpecs(s)); ue != nil {
			out.Plan, out.Changes, out.Pending = p, p.Changes(), p.PendingReplicas()
			return refused(req.DryRun, ue)
		}
	}
	for _, warn := range p.Warnings {
		rep.Notice(Notice{Level: LevelWarn, Message: warn})
	}
	*out = Result{Plan: p, Changes: p.Changes(), Pending: p.PendingReplicas(), Serial: s.Serial, Down: down}
	if !p.Converged() || !req.Quiet {
		rep.Plan(p)
	}
	if req.CheckPlan != nil {
		if err := req.CheckPlan(s, p); err != nil {
			return err
		}
	}
	if req.DryRun {
		if req.SavePlan != nil {
			if err := req.SavePlan(readLineage, readSerial, s, w, p); err != nil {
				return err
			}
		}
		out.Changed = !p.Empty() || desiredChanged
		return pendingError(p)
	}
	if req.BeforeApply != nil {
		if err := req.BeforeApply(ctx, w, p); err != nil {
			return err
		}
	}
	var mesh MeshRun
	if d.Mesh != nil {
		// Stacks left unclaimed (stack deploy --adopt) run replicas whose
		// specs the state lacks: routes computed without them would drop
		// theirs, so the mesh is left as it is until they are claimed.
		if len(s.Unclaimed) == 0 {
			mesh = d.Mesh(cl, desired.Services)
			cl.Mesh = mesh
			for _, err := range mesh.Unfit(w) {
				rep.Notice(Notice{Level: LevelWarn, Message: err.Error() + " (the run goes on without it)"})
			}
		} else {
			rep.Notice(Notice{Level: LevelWarn, Message: "routing mesh left as it is while stacks are unclaimed (deploy or remove them): " + strings.Join(s.Unclaimed, ", ")})
		}
	}
	var fileHosts []string
	if d.Files != nil {
		if fileHosts, err = d.Files.Deliver(ctx, w, p, desired, s); err != nil {
			return fmt.Errorf("nothing was changed: %w", err)
		}
	}
	var applyErr error
	res := &reconcile.Result{}
	if !p.Empty() {
		opts := reconcile.ApplyOptions{UpdateTimeout: req.Timeout, Poll: d.Poll}
		if s.Serial == 0 {
			opts.BeforeChanges = func(ctx context.Context) error { return d.startState(ctx, s, req.Command) }
		}
		res, applyErr = cl.Apply(ctx, p, w, opts)
		// Only a plan that changed containers can leave files unused.
		if d.Files != nil && len(fileHosts) > 0 && ctx.Err() == nil {
			d.Files.Prune(ctx, w, fileHosts)
		}
	}
	var pre *reconcile.PreflightError
	if errors.As(applyErr, &pre) {
		// Refused before any change: the state keeps what it had, so a
		// later reconcile does not chase a desired state nobody got.
		return applyErr
	}
	extra := ""
	if req.AfterApply != nil && applyErr == nil {
		extra, applyErr = req.AfterApply(ctx, w, s)
	}
	var meshErr error
	if mesh != nil && ctx.Err() == nil {
		meshErr = mesh.Sync(ctx, w, !p.Empty() || extra != "")
	}
	changed := res.Changed() || extra != ""
	done := summarize(res)
	if extra != "" {
		done += ", " + extra
	}
	if desiredChanged || changed || applyErr != nil {
		recordOutcomes(s, res, d.now())
		if summary == "" {
			summary = done
		} else if changed {
			summary += "; " + done
		}
		if n := p.PendingReplicas(); n > 0 {
			summary += fmt.Sprintf("; %s pending", plural(n, "replica", "replicas"))
		}
		select {
		case <-lost:
			return errors.Join(applyErr, ErrLockLost)
		default:
		}
		// Save even when the context was cancelled: what was applied must
		// be on record.
		if err := d.Commit(context.WithoutCancel(ctx), s, Record{Command: req.Command, Summary: summary, Result: runResult(applyErr)}); err != nil {
			return errors.Join(applyErr, fmt.Errorf("saving state to %s: %w", d.Store.Describe(), err))
		}
	}
	out.Applied, out.Result, out.Serial = true, res, s.Serial
	out.Changed = changed || desiredChanged
	if changed {
		rep.Applied(done, s.Serial)
	}
	if applyErr != nil {
		if ctx.Err() != nil {
			d.reportInterrupted(ctx, cl, in)
		}
		return errors.Join(applyErr, meshErr)
	}
	if meshErr != nil {
		return meshErr
	}
	return pendingError(p)
}

// withShipped puts the platforms of the images a run ships itself in
// place of what was found of them, and leaves out the hosts' copies of
// them (each host is sent the variant of its platform).
func withShipped(images map[string][]cluster.Platform, copies map[string]map[string]cluster.Platform, shipped map[string][]cluster.Platform) (map[string][]cluster.Platform, map[string]map[string]cluster.Platform) {
	if len(shipped) == 0 {
		return images, copies
	}
	if images == nil {
		images = map[string][]cluster.Platform{}
	}
	for ref, ps := range shipped {
		images[ref] = ps
		for _, c := range copies {
			delete(c, ref)
		}
	}
	return images, copies
}
