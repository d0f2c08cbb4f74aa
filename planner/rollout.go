package planner

import "github.com/drover-sh/drover/cluster"

// Rollout is how one service's replacements of running replicas roll: in
// batches of update_config.parallelism, stop-first or start-first. The
// plan decides it; apply carries it out batch by batch, each gated on
// health.
type Rollout struct {
	Service   string
	StopFirst bool
	// Fallback says why the rollout is stop-first although the policy
	// says start-first; "" when it follows the policy.
	Fallback string
	Batches  [][]string // slots, in the plan's order
}

// fallbackPorts is why a start-first rollout of a service that publishes
// host ports goes stop-first.
const fallbackPorts = "start-first cannot bind a published host port twice on one host: replacing stop-first"

// Rolls reports whether a replace goes through the rolling update: a
// replica that is not running serves nothing, so replacing it costs no
// availability and it is recreated at once.
func Rolls(a *Action) bool {
	return a.Kind == Replace && (a.Old == nil || a.Old.Running())
}

// PlanRollout decides how replaces (rolling replace actions of svc, in
// order) roll under pol: svc.Update for an update, svc.Rollback for a
// rollback.
func PlanRollout(svc *cluster.Service, pol cluster.UpdatePolicy, replaces []Action) Rollout {
	r := Rollout{Service: svc.FullName(), StopFirst: pol.Order != "start-first"}
	if !r.StopFirst && publishesHostPorts(&svc.Container) {
		r.StopFirst, r.Fallback = true, fallbackPorts
	}
	n := pol.Parallelism
	if n <= 0 || n > len(replaces) {
		n = len(replaces)
	}
	for len(replaces) > 0 {
		k := min(n, len(replaces))
		batch := make([]string, k)
		for i := range batch {
			batch[i] = replaces[i].Slot
		}
		r.Batches = append(r.Batches, batch)
		replaces = replaces[k:]
	}
	return r
}

// publishesHostPorts reports whether two replicas of the spec could not
// run side by side on one host (ingress ports are the mesh's: they can).
func publishesHostPorts(s *cluster.ContainerSpec) bool {
	for _, p := range s.Ports {
		if p.Published != 0 && !p.Ingress() {
			return true
		}
	}
	return false
}

// rollouts decides the rollout of every service of the plan that
// replaces running replicas.
func (w *world) rollouts(p *Plan) []Rollout {
	var out []Rollout
	for _, s := range w.order {
		var replaces []Action
		for i := range s.actions {
			if Rolls(&s.actions[i]) {
				replaces = append(replaces, s.actions[i])
			}
		}
		if len(replaces) == 0 {
			continue
		}
		pol := s.spec.Update
		if w.in.UseRollbackPolicy {
			pol = s.spec.Rollback
		}
		out = append(out, PlanRollout(s.spec, pol, replaces))
	}
	return out
}

// Rollout returns the plan's rollout of a service; ok is false when the
// plan has none (it replaces no running replica of it).
func (p *Plan) Rollout(service string) (Rollout, bool) {
	for _, r := range p.Rollouts {
		if r.Service == service {
			return r, true
		}
	}
	return Rollout{}, false
}
