package planner

import "sort"

// Compute plans the changes that bring the observed containers to the
// desired services. It returns an error, and no plan, when the input is
// invalid (malformed constraint, two services publishing one port,
// depends_on cycle). Replicas that no node can take now are left pending
// (Plan.Pending) while the rest is planned, as Swarm does; whether a
// pending replica could ever be placed is Pending.Unsatisfiable.
func Compute(in Input) (*Plan, error) {
	w, err := newWorld(&in)
	if err != nil {
		return nil, err
	}
	w.collect()
	for _, s := range w.order {
		w.classify(s)
		s.enforceMaxPerNode()
	}
	// Everything that stays is accounted before anything is placed.
	for _, s := range w.order {
		s.occupyKept()
	}
	// Slots that have a container get first claim on its host.
	failed := make(map[*service][]slotReason)
	for _, s := range w.order {
		if f := w.replaceInPlace(s); len(f) > 0 {
			failed[s] = f
		}
	}
	// Global services before replicated ones: their nodes are fixed, the
	// others can go around them.
	for _, s := range w.order {
		if s.global {
			w.placeGlobal(s, failed[s])
		}
	}
	for _, s := range w.order {
		if !s.global {
			w.placeReplicated(s)
		}
	}
	sortPendingList(w.pending)
	return w.plan(), nil
}

// plan assembles the actions: containers of removed services first (they
// free what the rest was planned around), then the services in dependency
// order, each by slot.
func (w *world) plan() *Plan {
	n := 0
	for _, s := range w.order {
		n += len(s.actions)
	}
	p := &Plan{Actions: make([]Action, 0, n)}
	gone := make([]string, 0, len(w.removed))
	for name := range w.removed {
		gone = append(gone, name)
	}
	sort.Strings(gone)
	for _, name := range gone {
		as := w.removed[name]
		sortActions(as, 0, false)
		p.Actions = append(p.Actions, as...)
	}
	for _, s := range w.order {
		sortActions(s.actions, s.replicas(), s.global)
		p.Actions = append(p.Actions, s.actions...)
	}
	p.Levels = levels(w.order)
	p.Rollouts = w.rollouts(p)
	w.specs(p)
	p.Networks, p.Volumes = w.resources(p.Actions)
	p.Warnings = w.warnings
	p.Pending = w.pending
	return p
}
