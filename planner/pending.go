package planner

import "sort"

// Pending is a service's replicas that this plan could not place, as Swarm
// leaves tasks pending: the rest of the plan goes ahead, and every later
// run tries them again.
type Pending struct {
	Service string   `json:"service"` // STACK_SERVICE
	Stack   string   `json:"stack"`
	Slots   []string `json:"slots"` // in slot order
	// Reason is Swarm's tally of why each node refused, e.g. "2 nodes have
	// port 8088/tcp in use, 1 node is not ready"; Reasons holds its parts.
	Reason  string       `json:"reason"`
	Reasons []NodeReason `json:"reasons"`
	// Unsatisfiable is set when no inventoried node could ever take one of
	// these replicas, even if every node were up, active and idle: a
	// constraint no node matches, a reservation larger than every node.
	// Commands that change the desired state refuse such a spec; shortages
	// that time can mend (down, drained or paused nodes, ports in use,
	// max_replicas_per_node, capacity in use) only leave replicas pending.
	Unsatisfiable bool `json:"unsatisfiable,omitempty"`
	// Platform, for an unsatisfiable service whose image has no variant for
	// any eligible node, compares the two: "lab/x:v1 is linux/arm64 only;
	// eligible nodes h1, h2, h3 are linux/amd64".
	Platform string `json:"platform,omitempty"`
}

// Replicas is how many replicas are pending.
func (p *Pending) Replicas() int { return len(p.Slots) }

// unschedulable is the Swarm-style summary of the pending replicas.
func (p *Pending) unschedulable() ServiceUnschedulable {
	return ServiceUnschedulable{Service: p.Service, Replicas: len(p.Slots), Reasons: p.Reasons, Platform: p.Platform}
}

// PendingReplicas counts the replicas the plan leaves pending.
func (p *Plan) PendingReplicas() int {
	n := 0
	for i := range p.Pending {
		n += len(p.Pending[i].Slots)
	}
	return n
}

// Unschedulable returns every pending replica as one error, or nil.
func (p *Plan) Unschedulable() *UnschedulableError {
	return p.unschedulable(func(*Pending) bool { return true })
}

// Unsatisfiable returns the pending replicas that no inventoried node could
// ever take as one error, or nil: the desired state itself is wrong.
func (p *Plan) Unsatisfiable() *UnschedulableError {
	return p.unschedulable(func(pd *Pending) bool { return pd.Unsatisfiable })
}

func (p *Plan) unschedulable(keep func(*Pending) bool) *UnschedulableError {
	var out []ServiceUnschedulable
	for i := range p.Pending {
		if keep(&p.Pending[i]) {
			out = append(out, p.Pending[i].unschedulable())
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &UnschedulableError{Services: out}
}

// leavePending records slots of s that found no node, with each node's
// first reason for refusing.
func (w *world) leavePending(s *service, slots []string, reasons []reason) {
	if len(slots) == 0 {
		return
	}
	t := tally(s.name, len(slots), reasons)
	pd := Pending{
		Service:       s.name,
		Stack:         s.spec.Stack,
		Slots:         slots,
		Reason:        t.reasonText(),
		Reasons:       t.Reasons,
		Unsatisfiable: !w.satisfiable(s, slots),
	}
	if pd.Unsatisfiable {
		pd.Platform = w.platformMismatch(s)
	}
	w.pending = append(w.pending, pd)
}

// satisfiable reports whether some inventoried node could take a replica
// of s if every node were up, active and idle. A node that is not ready
// has unknown facts (platform, capacity): they are given the benefit of the
// doubt, so a host that is down never makes a spec look wrong.
func (w *world) satisfiable(s *service, slots []string) bool {
	ideal := func(n *node) bool {
		info := *n.info
		if !n.ready() {
			info.OS, info.Arch = "", ""
		}
		for i := range s.constraints {
			c := &s.constraints[i]
			if !n.ready() && (c.attr.kind == attrOS || c.attr.kind == attrArch) {
				continue
			}
			if !c.match(&info) {
				return false
			}
		}
		if !s.runsOn(&info) {
			return false
		}
		if s.cpu > 0 && n.cpuCap > 0 && s.cpu > n.cpuCap {
			return false
		}
		if s.mem > 0 && n.memCap > 0 && s.mem > n.memCap {
			return false
		}
		return true
	}
	if s.global {
		for _, slot := range slots {
			if n := w.byName[slot]; n != nil && !ideal(n) {
				return false
			}
		}
		return true
	}
	for _, n := range w.nodes {
		if ideal(n) {
			return true
		}
	}
	return false
}

func sortPendingList(ps []Pending) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].Service < ps[j].Service })
}

// pendingSlots lists the slots of ps.
func pendingSlots(ps []*pending) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.slot
	}
	return out
}
