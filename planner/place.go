package planner

import (
	"github.com/drover-sh/drover/cluster"
)

// replaceInPlace gives each slot whose container must be renewed the same
// host again when that host can take the new container; otherwise the old
// one is removed and the slot joins the ones to place (replicated), or stays
// as it is on a paused node, or is unschedulable (global: its node is fixed).
func (w *world) replaceInPlace(s *service) (failed []slotReason) {
	rest := s.pending[:0]
	for _, p := range s.pending {
		if p.old == nil || p.moved {
			rest = append(rest, p)
			continue
		}
		n := p.old.node
		r := s.check(n)
		if r.code == fits {
			s.replace(p, w.in.Specs)
			s.occupyNew(n)
			continue
		}
		if s.global {
			switch {
			case r.code == unavailable && p.old.running:
				// Pause forbids new containers and a global slot cannot
				// go elsewhere: leave the running one until the node is
				// resumed.
				w.warnf("%s on %s is not replaced (%s) because node %s is %s", s.name, n.name, p.why, n.name, r.detail)
				s.actions = append(s.actions, s.keepAction(p.old, r.on(n.name)))
				s.occupyOld(p.old, nil)
			case r.code == unavailable:
				s.remove(p.old, p.why+"; "+r.on(n.name))
			default:
				failed = append(failed, slotReason{p.slot, r})
			}
			continue
		}
		p.why += "; " + r.on(n.name)
		s.remove(p.old, p.why)
		p.moved = true
		rest = append(rest, p)
	}
	s.pending = rest
	return failed
}

// slotReason is a global slot that its node refused, and why.
type slotReason struct {
	slot   string
	reason reason
}

// placeGlobal creates the missing replicas of a global service, each on
// its own node.
func (w *world) placeGlobal(s *service, failed []slotReason) {
	for _, p := range s.pending {
		if r := s.check(p.node); r.code != fits {
			failed = append(failed, slotReason{p.slot, r})
			continue
		}
		s.create(p, p.node, w.in.Specs)
		s.occupyNew(p.node)
	}
	if len(failed) > 0 {
		slots := make([]string, len(failed))
		reasons := make([]reason, len(failed))
		for i, f := range failed {
			slots[i], reasons[i] = f.slot, f.reason
		}
		w.leavePending(s, slots, reasons)
	}
}

// placeReplicated places the pending slots of a replicated service one by
// one, each on the best node of the spread tree. Building the tree is
// O(nodes) and each placement O(depth × log nodes), which keeps a
// thousand-node, ten-thousand-replica plan in milliseconds.
func (w *world) placeReplicated(s *service) {
	if len(s.pending) == 0 {
		return
	}
	eligible := make([]*node, 0, len(w.nodes))
	for _, n := range w.nodes {
		if n.ready() && n.availability() == cluster.Active && s.failedConstraint(n.info) == nil && s.runsOn(n.info) {
			n.cur = s.count[n]
			eligible = append(eligible, n)
		}
	}
	root := newBranch(eligible, s.spread)
	fit := func(n *node) bool { return s.fit(n).code == fits }
	assign := func(n *node) {
		n.cur++
		s.occupyNew(n)
	}
	for i, p := range s.pending {
		n := root.take(fit, assign)
		if n == nil {
			reasons := make([]reason, len(w.nodes))
			for j, n := range w.nodes {
				reasons[j] = s.check(n)
			}
			// The nodes that failed are dropped from the tree for good, so
			// the rest of the slots cannot fit either.
			w.leavePending(s, pendingSlots(s.pending[i:]), reasons)
			return
		}
		s.create(p, n, w.in.Specs)
	}
}

// branch is a group of eligible nodes sharing the value of a spread label
// (the root holds them all). Inner branches keep their children in a heap by
// replicas of the service, so each replica goes to the emptiest group;
// leaves keep their nodes in a heap by the node rule.
type branch struct {
	key     string
	missing bool // the group of nodes lacking the label
	count   int  // replicas of the service on the branch's nodes
	kids    *heapOf[*branch]
	nodes   *heapOf[*node]
}

func newBranch(nodes []*node, spread []attribute) *branch {
	b := &branch{}
	b.fill(nodes, spread)
	return b
}

func (b *branch) fill(nodes []*node, spread []attribute) {
	for _, n := range nodes {
		b.count += n.cur
	}
	if len(spread) == 0 {
		b.nodes = newHeap(nodes, nodeLess)
		return
	}
	groups := make(map[string][]*node)
	var missing []*node
	for _, n := range nodes {
		if v, ok := spread[0].value(n.info); ok {
			groups[v] = append(groups[v], n)
		} else {
			missing = append(missing, n)
		}
	}
	kids := make([]*branch, 0, len(groups)+1)
	for v, ns := range groups {
		k := &branch{key: v}
		k.fill(ns, spread[1:])
		kids = append(kids, k)
	}
	if len(missing) > 0 {
		k := &branch{missing: true}
		k.fill(missing, spread[1:])
		kids = append(kids, k)
	}
	// The order is total, so the map's iteration order does not matter.
	b.kids = newHeap(kids, branchLess)
}

// nodeLess is the node rule: fewest replicas of the service, then fewest
// replicas overall, then name.
func nodeLess(a, b *node) bool {
	if a.cur != b.cur {
		return a.cur < b.cur
	}
	if a.total != b.total {
		return a.total < b.total
	}
	return a.name < b.name
}

func branchLess(a, b *branch) bool {
	if a.count != b.count {
		return a.count < b.count
	}
	if a.missing != b.missing {
		return !a.missing
	}
	return a.key < b.key
}

// take places one replica in the subtree and returns its node, or nil when
// no node of the subtree fits. Nodes and branches that do not fit are
// dropped: they cannot fit later in this service's placement either.
func (b *branch) take(fit func(*node) bool, assign func(*node)) *node {
	if b.nodes != nil {
		for b.nodes.len() > 0 {
			n := b.nodes.top()
			if fit(n) {
				assign(n)
				b.nodes.fixTop()
				return n
			}
			b.nodes.pop()
		}
		return nil
	}
	for b.kids.len() > 0 {
		k := b.kids.top()
		if n := k.take(fit, assign); n != nil {
			k.count++
			b.kids.fixTop()
			return n
		}
		b.kids.pop()
	}
	return nil
}
