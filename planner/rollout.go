package planner

import "github.com/drover-sh/drover/cluster"

// Rollout is how one service's replacements of running replicas roll: in
// batches of update_config.parallelism, stop-first or start-first. The
// plan decides it; apply carries it out batch by batch, each gated on
// health.
type Rollout struct {
	Service   string `json:"service"`
	StopFirst bool   `json:"stop_first"`
	// Fallback says why the rollout is stop-first although the policy
	// says start-first; "" when it follows the policy.
	Fallback string     `json:"fallback,omitempty"`
	Batches  [][]string `json:"batches"` // slots, in the plan's order
	// Policy is what the batches roll under: the delay between them, the
	// monitor window, failure_action and max_failure_ratio
	// (update_config, or rollback_config for a rollback).
	Policy cluster.UpdatePolicy `json:"policy"`
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
	r := Rollout{Service: svc.FullName(), StopFirst: pol.Order != cluster.StartFirst, Policy: pol}
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

// specs attaches the desired spec, and the previous generation, of every
// service the plan changes: apply needs nothing but the plan.
func (w *world) specs(p *Plan) {
	for i := range p.Actions {
		a := &p.Actions[i]
		if a.Kind == Keep {
			continue
		}
		s, ok := w.svcByName[a.Service]
		if !ok {
			continue // a removed service: its removes need no spec
		}
		if p.Services == nil {
			p.Services = map[string]*cluster.Service{}
		}
		p.Services[a.Service] = s.spec
		if prev := w.in.Previous[a.Service]; prev != nil {
			if p.Previous == nil {
				p.Previous = map[string]*cluster.Service{}
			}
			p.Previous[a.Service] = prev
		}
	}
}
