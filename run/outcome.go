package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// DesiredOf gathers the state's services, previous generations, networks
// and volumes for Apply.
func DesiredOf(s *state.State) reconcile.Desired {
	d := reconcile.Desired{
		Services: map[string]*cluster.Service{},
		Previous: map[string]*cluster.Service{},
		Networks: map[string]cluster.Network{},
		Volumes:  map[string]cluster.Volume{},
	}
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			d.Services[svc.Current.FullName()] = svc.Current
			if g, err := svc.RollbackTarget(0); err == nil {
				d.Previous[svc.Current.FullName()] = g.Spec
			}
		}
		for _, n := range st.Networks {
			d.Networks[n.Name] = n
		}
		for _, v := range st.Volumes {
			d.Volumes[v.Name] = v
		}
	}
	return d
}

// PlanInput is the planner's view of a run: the state's services, what was
// observed, the stacks the run may change, the time.
func PlanInput(s *state.State, w *reconcile.World, d reconcile.Desired, scope map[string]bool, now time.Time) planner.Input {
	return planner.Input{
		Services: s.Services(),
		Previous: d.Previous,
		Scope:    scope,
		Observed: w.Hosts,
		Specs:    s.Specs(),
		Networks: d.Networks,
		Volumes:  d.Volumes,
		Now:      now,
	}
}

// serviceSpecs maps each service of the state to its current spec as JSON,
// to tell which services a run changes.
func serviceSpecs(s *state.State) map[string]string {
	out := map[string]string{}
	for _, svc := range s.Services() {
		b, _ := json.Marshal(svc)
		out[svc.FullName()] = string(b)
	}
	return out
}

// unsatisfiableChanges returns the pending replicas that no node could
// ever run, of the services whose spec this run changes: a new spec that
// cannot run anywhere is refused. An unchanged spec that became
// unsatisfiable (the inventory changed) only stays pending, so that it
// never blocks healing or draining the rest.
func unsatisfiableChanges(p *planner.Plan, before, after map[string]string) *planner.UnschedulableError {
	var out []planner.ServiceUnschedulable
	if ue := p.Unsatisfiable(); ue != nil {
		for _, su := range ue.Services {
			if before[su.Service] != after[su.Service] {
				out = append(out, su)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &planner.UnschedulableError{Services: out}
}

// recordOutcomes writes each service's rollout result into the state.
func recordOutcomes(s *state.State, res *reconcile.Result, now time.Time) {
	now = now.UTC()
	for _, o := range res.Services {
		_, svc, ok := s.FindService(o.Service)
		if !ok {
			continue
		}
		switch o.State {
		case cluster.UpdateCompleted:
			svc.Meta.Result = string(cluster.UpdateCompleted)
		case cluster.UpdateRollbackCompleted:
			// As in Swarm, the service's spec is the previous one again;
			// the failed generation stays in the history as rolled back.
			svc.Meta.Result = "rolled back: " + o.Reason
			if err := svc.RollbackTo(0, svc.Meta.Result); err != nil {
				svc.Meta.Result = string(cluster.UpdateRollbackCompleted)
			}
		default:
			svc.Meta.Result = string(o.State)
		}
		svc.Update = &state.UpdateStatus{State: o.State, Reason: o.Reason, Started: now, Ended: now}
	}
}

// runResult is the history's result of a run that applied.
func runResult(applyErr error) string {
	if applyErr == nil {
		return "ok"
	}
	var ue *reconcile.UpdateError
	if errors.As(applyErr, &ue) {
		return ue.State.Display()
	}
	return "failed"
}

// summarize is the run's summary line: "2 created, 0 replaced, 0 removed".
func summarize(r *reconcile.Result) string {
	var c, u, rm, rb int
	for _, o := range r.Services {
		c += o.Created
		u += o.Replaced
		rm += o.Removed
		rb += o.RolledBack
	}
	parts := []string{fmt.Sprintf("%d created", c), fmt.Sprintf("%d replaced", u), fmt.Sprintf("%d removed", rm)}
	if rb > 0 {
		parts = append(parts, fmt.Sprintf("%d rolled back", rb))
	}
	if r.Networks+r.Volumes > 0 {
		parts = append(parts, fmt.Sprintf("%s, %s created", plural(r.Networks, "network", "networks"), plural(r.Volumes, "volume", "volumes")))
	}
	return strings.Join(parts, ", ")
}

// interruptedLook bounds the look at the hosts after an interrupted run.
const interruptedLook = 5 * time.Second

// reportInterrupted tells, after a run was interrupted mid-rollout, which
// replicas are now missing or outdated: it looks at the hosts once more and
// plans again, which is what the next run will continue with.
func (d *Deps) reportInterrupted(ctx context.Context, cl *reconcile.Cluster, in planner.Input) {
	look, cancel := context.WithTimeout(context.WithoutCancel(ctx), interruptedLook)
	defer cancel()
	w := cl.Observe(look)
	in.Observed, in.Now = w.Hosts, d.now()
	p, err := planner.Compute(in)
	if err != nil {
		d.reporter().Interrupted(Leftover{Err: err})
		return
	}
	var left Leftover
	for _, a := range p.Actions {
		switch a.Kind {
		case planner.Create:
			left.Missing = append(left.Missing, a.Service+"."+a.Slot)
		case planner.Replace:
			left.Outdated = append(left.Outdated, fmt.Sprintf("%s.%s (gen %d, want %d)", a.Service, a.Slot, a.Old.Generation, a.Generation))
		case planner.Remove:
			left.Surplus = append(left.Surplus, a.Service+"."+a.Slot+"@"+a.Host)
		}
	}
	d.reporter().Interrupted(left)
}

// plural is "1 replica", "2 replicas".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
