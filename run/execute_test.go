package run

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/state"
)

func TestExecuteDeploy(t *testing.T) {
	l := newLab(t, 3)
	res, err := l.run(Request{Scope: []string{"demo"}, Mutate: deploy(web(3, imageV1))})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Applied || !res.Changed || res.Plan == nil || res.Pending != 0 {
		t.Fatalf("result %+v", res)
	}
	if got := l.running("demo_web"); got != 3 {
		t.Fatalf("%d replicas running, want 3", got)
	}
	// The first run writes a state before its first change (serial 1),
	// then its outcome (serial 2).
	s := l.read()
	if s.Serial != 2 || res.Serial != 2 || len(s.History) != 2 {
		t.Fatalf("serial %d (result %d), history %+v", s.Serial, res.Serial, s.History)
	}
	h := s.History[1]
	if h.Summary != "deploy demo; 3 created, 0 replaced, 0 removed, 3 networks, 0 volumes created" || h.Result != "ok" || h.User != "tester@test" || !h.Time.Equal(l.now) {
		t.Fatalf("history entry %+v", h)
	}
	if s.History[0].Summary != "state started" {
		t.Fatalf("first entry %+v", s.History[0])
	}
	if got := s.Stacks["demo"].Services["web"].Meta.Result; got != "completed" {
		t.Fatalf("service result %q", got)
	}
	// The network carries the stack the plan gave it (stack rm finds it so).
	for _, h := range l.names {
		n, ok := l.fakes[h].Network("demo_default")
		if nets := l.fakes[h].Networks(); len(nets) != 4 || !ok || n.Labels[cluster.LabelStack] != "demo" { // and bridge, host, none
			t.Fatalf("%s networks %q, demo_default %+v", h, nets, n)
		}
	}
	if len(l.rep.plans) != 1 || len(l.rep.applied) != 1 || l.rep.applied[0] != "3 created, 0 replaced, 0 removed, 3 networks, 0 volumes created (serial 2)" {
		t.Fatalf("reported plans %d, applied %q", len(l.rep.plans), l.rep.applied)
	}
}

func TestExecuteNoop(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	before, serial := l.allChanges(), l.read().Serial
	l.rep.plans = nil
	res, err := l.run(Request{Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || !res.Plan.Converged() || res.Changes != 0 {
		t.Fatalf("result %+v", res)
	}
	if l.allChanges() != before {
		t.Fatalf("a no-op run changed a host: %d changes, %d before", l.allChanges(), before)
	}
	if s := l.read(); s.Serial != serial {
		t.Fatalf("a no-op run wrote the state: serial %d, was %d", s.Serial, serial)
	}
	if len(l.rep.plans) != 0 {
		t.Fatal("a quiet run with nothing to do reported its plan")
	}
	// Not quiet, the converged plan is shown; a dry run changes nothing either.
	if res, err := l.run(Request{DryRun: true}); err != nil || res.Changed || len(l.rep.plans) != 1 {
		t.Fatalf("dry run: %v, %+v, %d plans", err, res, len(l.rep.plans))
	}
}

func TestExecuteDrift(t *testing.T) {
	l := newLab(t, 1)
	if _, err := l.run(Request{Mutate: deploy(web(1, imageV1))}); err != nil {
		t.Fatal(err)
	}
	cs := l.inspectAll("h1")
	if len(cs) != 1 {
		t.Fatalf("%d containers", len(cs))
	}
	// Changed by hand: the spec label still matches, the container does not.
	l.editContainer("h1", cs[0].ID, func(c *enginetest.Container) { c.Restart = "no" })
	res, err := l.run(Request{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Empty() || !l.rep.noticed("drifted from its spec (restart policy no (spec: always))") {
		t.Fatalf("drift without --fix-drift: %d changes, notices %+v", res.Changes, l.rep.notices)
	}
	res, err = l.run(Request{FixDrift: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changes != 1 || res.Plan.Actions[0].Kind != planner.Replace || !strings.HasPrefix(res.Plan.Actions[0].Reason, "drifted: restart policy no") {
		t.Fatalf("fix drift plan %+v", res.Plan.Actions)
	}
	if res.Result.Services[0].Replaced != 1 || l.running("demo_web") != 1 {
		t.Fatalf("outcome %+v", res.Result)
	}
}

func TestExecuteRefusesLostState(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l.store.Path); err != nil {
		t.Fatal(err)
	}
	before := l.allChanges()
	res, err := l.run(Request{AllStacks: true})
	var ns *NoStateError
	if !errors.As(err, &ns) || ns.Containers != 2 || ns.Stacks["demo"] != 2 || !slices.Equal(ns.Hosts, []string{"h1", "h2"}) {
		t.Fatalf("got %v (%+v), want a NoStateError naming 2 containers of demo on h1, h2", err, ns)
	}
	if res.Plan != nil || res.Applied || l.allChanges() != before {
		t.Fatalf("a refused run planned or changed something: %+v", res)
	}
	if _, err := l.store.Read(context.Background()); !errors.Is(err, state.ErrNoState) {
		t.Fatalf("a refused run wrote a state: %v", err)
	}
	// --adopt takes them under a new state; the stacks it does not deploy
	// are unclaimed, and left running.
	if _, err := l.run(Request{Adopt: true, Scope: []string{"other"}, Mutate: func(s *state.State) (string, error) {
		s.Stacks["other"] = &state.Stack{Name: "other", Services: map[string]*state.Service{}}
		return "deploy other", nil
	}}); err != nil {
		t.Fatal(err)
	}
	if s := l.read(); !slices.Equal(s.Unclaimed, []string{"demo"}) || l.running("demo_web") != 2 {
		t.Fatalf("unclaimed %q, %d running", s.Unclaimed, l.running("demo_web"))
	}
}

func TestExecutePendingExit(t *testing.T) {
	l := newLab(t, 3)
	svc := web(4, imageV1, func(s *cluster.Service) { s.Placement.MaxReplicasPerNode = 1 })
	res, err := l.run(Request{DryRun: true, Mutate: deploy(svc)})
	var pe *PendingError
	if !errors.As(err, &pe) || pe.Replicas != 1 || l.allChanges() != 0 || !res.Changed {
		t.Fatalf("dry run: %v, %+v, %d changes", err, res, l.allChanges())
	}
	res, err = l.run(Request{Mutate: deploy(web(4, imageV1, func(s *cluster.Service) { s.Placement.MaxReplicasPerNode = 1 }))})
	var ue *planner.UnschedulableError
	if !errors.As(err, &pe) || !errors.As(err, &ue) || res.Pending != 1 || !strings.HasPrefix(err.Error(), "1 replica pending (every run tries again): ") {
		t.Fatalf("got %v, %+v", err, res)
	}
	if l.running("demo_web") != 3 {
		t.Fatalf("%d running, want the 3 that fit", l.running("demo_web"))
	}
	if s := l.read(); !strings.HasSuffix(s.History[len(s.History)-1].Summary, "; 1 replica pending") {
		t.Fatalf("history %+v", s.History)
	}
}

// firstIndex is where the first call with prefix and suffix is, -1 if none.
func firstIndex(calls []string, prefix, suffix string) int {
	for i, c := range calls {
		if strings.HasPrefix(c, prefix) && strings.HasSuffix(c, suffix) {
			return i
		}
	}
	return -1
}

func TestExecuteRollbackPolicySwap(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		l := newLab(t, 1)
		policies := func(s *cluster.Service) {
			s.Update.Order = "start-first"
			s.Rollback.Order = "stop-first"
		}
		if _, err := l.run(Request{Mutate: deploy(web(1, imageV1, policies))}); err != nil {
			t.Fatal(err)
		}
		before := len(l.changes("h1"))
		if _, err := l.run(Request{UseRollbackPolicy: rollback, Mutate: deploy(web(1, imageV2, policies))}); err != nil {
			t.Fatal(err)
		}
		calls := l.changes("h1")[before:]
		stop, create := firstIndex(calls, "POST /containers/", "/stop"), firstIndex(calls, "POST /containers/create", "")
		if stop < 0 || create < 0 {
			t.Fatalf("calls %q", calls)
		}
		// update_config says start-first; rollback_config stop-first.
		if stopFirst := stop < create; stopFirst != rollback {
			t.Errorf("UseRollbackPolicy %v: stop-first %v, calls %q", rollback, stopFirst, calls)
		}
	}
}

func TestExecuteLockHeld(t *testing.T) {
	l := newLab(t, 1)
	ctx := context.Background()
	other, err := l.store.Lock(ctx, state.LockInfo{Owner: "alice@lap", Machine: "lap", PID: os.Getpid(), Command: "stack deploy"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	res, err := l.run(Request{Mutate: deploy(web(1, imageV1))})
	var held *state.LockHeldError
	if !errors.Is(err, state.ErrLockHeld) || !errors.As(err, &held) || held.Holder.Owner != "alice@lap" {
		t.Fatalf("got %v, want the lock held by alice@lap", err)
	}
	if res.Plan != nil || l.fakes["h1"].Calls() != 0 {
		t.Fatalf("a run without the lock went on: %+v, calls %q", res, l.fakes["h1"].Requests())
	}
	// A dry run takes no lock.
	if res, err := l.run(Request{DryRun: true, Mutate: deploy(web(1, imageV1))}); err != nil || res.Changes == 0 {
		t.Fatalf("dry run under a held lock: %v, %+v", err, res)
	}
}

func TestEditCommitsOneVersion(t *testing.T) {
	l := newLab(t, 1)
	d := l.deps()
	ctx := context.Background()
	// No state: nothing to record in, nothing written.
	s, err := d.Edit(ctx, "lock release", func(s *state.State) (Record, error) { return Record{}, nil })
	if err != nil || s.Serial != 0 {
		t.Fatalf("%v, serial %d", err, s.Serial)
	}
	if _, err := l.store.Read(ctx); !errors.Is(err, state.ErrNoState) {
		t.Fatalf("state written: %v", err)
	}
	if _, err := l.run(Request{Mutate: deploy(web(1, imageV1))}); err != nil {
		t.Fatal(err)
	}
	s, err = d.Edit(ctx, "node rm h2", func(s *state.State) (Record, error) {
		s.Nodes["h2"] = state.NodeSettings{Availability: cluster.Drain}
		return Record{Summary: "removed node h2"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got := l.read()
	last := got.History[len(got.History)-1]
	if got.Serial != 3 || s.Serial != 3 || last != (state.Run{Serial: 3, Time: l.now, User: "tester@test", Command: "node rm h2", Summary: "removed node h2", Result: "ok"}) {
		t.Fatalf("serial %d, last entry %+v", got.Serial, last)
	}
	if got.Nodes["h2"].Availability != cluster.Drain {
		t.Fatal("the edit was not saved")
	}
}

// A deploy rolls services out by the plan's dependency levels, also when
// depends_on spells a full STACK_SERVICE name.
func TestExecuteDependencyOrder(t *testing.T) {
	l := newLab(t, 1)
	named := func(name string, deps ...string) *cluster.Service {
		return web(1, imageV1, func(s *cluster.Service) {
			s.Name, s.DependsOn = name, deps
			s.Container.Networks[0].Aliases = []string{name}
		})
	}
	if _, err := l.run(Request{Mutate: deploy(named("web", "demo_db"), named("db", "cache"), named("cache"))}); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range l.fakes["h1"].Created() {
		order = append(order, c.Config.Labels[cluster.LabelService])
	}
	if want := []string{"demo_cache", "demo_db", "demo_web"}; !slices.Equal(order, want) {
		t.Fatalf("created %q, want %q", order, want)
	}
}
