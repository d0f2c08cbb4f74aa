package run

import (
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// scope is the set of stacks the run may change.
func (d *Deps) scope(s *state.State, w *reconcile.World, req Request) map[string]bool {
	scope := map[string]bool{}
	for _, sc := range req.Scope {
		scope[sc] = true
	}
	switch {
	case len(scope) == 0 && !req.AllStacks:
		// Only what this state manages: never another state's stacks.
		scope[""] = true // a stack name no container has: keeps the scope non-empty
		for _, sc := range s.StackNames() {
			scope[sc] = true
		}
	case len(scope) == 0 && len(s.Unclaimed) > 0:
		// Every stack but the unclaimed ones, whose containers no run
		// removes until they are deployed or removed by name.
		scope[""] = true
		for _, sc := range s.StackNames() {
			scope[sc] = true
		}
		for _, r := range w.Replicas() {
			scope[r.Stack] = true
		}
		for _, sc := range s.Unclaimed {
			delete(scope, sc)
			d.reporter().Notice(Notice{Level: LevelWarn, Stack: sc, Message: "stack is unclaimed (its containers ran when this state was started with --adopt): left as it is; deploy it with `drover stack deploy`, or remove it with `drover stack rm`"})
		}
	}
	return scope
}

// checkNoState refuses a run on a new state while containers of the
// cluster run (unless it adopts them), and records the stacks it adopts
// without deploying them as unclaimed.
func (d *Deps) checkNoState(s *state.State, w *reconcile.World, req Request) error {
	found := &NoStateError{Where: d.Store.Describe(), Cluster: d.Cluster, Stacks: map[string]int{}}
	for _, h := range w.Hosts {
		if len(h.Replicas) == 0 {
			continue
		}
		found.Hosts = append(found.Hosts, h.Node.Name)
		for _, r := range h.Replicas {
			found.Containers++
			found.Stacks[r.Stack]++
		}
	}
	if found.Containers == 0 {
		return nil
	}
	if !req.Adopt {
		return found
	}
	named := map[string]bool{}
	for _, n := range req.Scope {
		named[n] = true
	}
	for _, name := range sortedKeys(found.Stacks) {
		if _, deployed := s.Stacks[name]; !deployed && !named[name] && name != "" {
			s.Unclaimed = append(s.Unclaimed, name)
		}
	}
	return nil
}
