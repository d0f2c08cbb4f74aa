package planner

import "github.com/drover-sh/drover/cluster"

// Builders of one service's actions.

func (s *service) remove(c *candidate, why string) {
	s.actions = append(s.actions, Action{
		Kind: Remove, Service: s.name, Stack: s.spec.Stack, Slot: c.r.Slot, Host: c.node.name,
		Old: c.r, Generation: c.r.Generation, Reason: why,
	})
}

func (s *service) keepAction(c *candidate, why string) Action {
	return Action{
		Kind: Keep, Service: s.name, Stack: s.spec.Stack, Slot: c.r.Slot, Host: c.node.name,
		Old: c.r, Generation: c.r.Generation, Reason: why,
	}
}

func (s *service) replace(p *pending, specs map[string]cluster.ContainerSpec) {
	s.actions = append(s.actions, Action{
		Kind: Replace, Service: s.name, Stack: s.spec.Stack, Slot: p.slot, Host: p.old.node.name,
		Old: p.old.r, Generation: s.spec.Generation, SpecHash: s.hash, Reason: p.why,
		Changes: s.changesFrom(p.old, specs),
	})
}

func (s *service) create(p *pending, n *node, specs map[string]cluster.ContainerSpec) {
	a := Action{
		Kind: Create, Service: s.name, Stack: s.spec.Stack, Slot: p.slot, Host: n.name,
		Generation: s.spec.Generation, SpecHash: s.hash, Reason: p.why,
	}
	if p.moved {
		a.From = p.old.node.name
		a.Reason = "moved from " + a.From + ": " + p.why
		a.Changes = s.changesFrom(p.old, specs)
	}
	s.actions = append(s.actions, a)
}

// occupyNew accounts a new container of s on n.
func (s *service) occupyNew(n *node) {
	n.occupy(s.name, s.ports, s.cpu, s.mem)
	s.count[n]++
}
