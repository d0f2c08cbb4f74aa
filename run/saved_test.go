package run

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// savedPlan is what a dry run hands SavePlan (plan --out FILE), with the
// plan through JSON as a plan file holds it: the specs, which its JSON
// never holds, come back beside it (command/planfile.go seals them).
type savedPlan struct {
	plan     *planner.Plan
	observed string
	stack    *state.Stack
	summary  string
}

func (l *lab) savePlan(mutate func(*state.State) (string, error)) *savedPlan {
	l.t.Helper()
	var sp savedPlan
	_, err := l.run(Request{DryRun: true, Scope: []string{"demo"},
		Mutate: func(s *state.State) (string, error) {
			sum, err := mutate(s)
			sp.summary = sum
			return sum, err
		},
		SavePlan: func(_ string, _ int64, s *state.State, w *reconcile.World, p *planner.Plan) error {
			b, err := json.Marshal(p)
			if err != nil {
				return err
			}
			sp.plan = &planner.Plan{}
			if err := json.Unmarshal(b, sp.plan); err != nil {
				return err
			}
			sp.plan.Services, sp.plan.Previous = p.Services, p.Previous
			sp.observed, sp.stack = w.Fingerprint(), s.Stacks["demo"]
			return nil
		}})
	if err != nil || sp.plan == nil {
		l.t.Fatalf("plan --out: %v", err)
	}
	return &sp
}

// apply is the request of `apply PLANFILE`.
func (sp *savedPlan) apply() Request {
	return Request{Scope: []string{"demo"}, Plan: sp.plan,
		Mutate: func(s *state.State) (string, error) {
			s.Stacks["demo"] = sp.stack
			return sp.summary, nil
		},
		CheckWorld: func(w *reconcile.World) error {
			if w.Fingerprint() != sp.observed {
				return errStale
			}
			return nil
		}}
}

var errStale = errors.New("stale")

// A saved plan is carried out as it was made: its replaces in its
// batches, the rollout it shows, without planning again.
func TestExecuteSavedPlan(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	sp := l.savePlan(deploy(web(2, imageV2)))
	if len(sp.plan.Rollouts) != 1 || len(sp.plan.Rollouts[0].Batches) != 2 || len(sp.plan.Levels) != 1 {
		t.Fatalf("the saved plan lost its rollout or levels: %+v %+v", sp.plan.Rollouts, sp.plan.Levels)
	}
	if l.running("demo_web") != 2 {
		t.Fatal("plan --out changed the hosts")
	}
	res, err := l.run(sp.apply())
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan != sp.plan {
		t.Fatal("apply planned again instead of carrying out the saved plan")
	}
	if res.Result.Services[0].Replaced != 2 {
		t.Fatalf("outcome %+v", res.Result)
	}
	for _, h := range l.names {
		for _, c := range l.inspectAll(h) {
			if c.Image != imageV2 {
				t.Fatalf("%s still runs %s", h, c.Image)
			}
		}
	}
	if got := l.read().Stacks["demo"].Services["web"].Current.Container.Image; got != imageV2 {
		t.Fatalf("state holds %s", got)
	}
}

// A cluster that moved since the plan was made (a replica stopped) refuses
// the saved plan before anything changes.
func TestExecuteSavedPlanStaleWorld(t *testing.T) {
	l := newLab(t, 2)
	if _, err := l.run(Request{Mutate: deploy(web(2, imageV1))}); err != nil {
		t.Fatal(err)
	}
	sp := l.savePlan(deploy(web(2, imageV2)))
	cs := l.inspectAll("h1")
	l.editContainer("h1", cs[0].ID, func(c *enginetest.Container) { c.State = "exited" })
	before, serial := l.allChanges(), l.read().Serial
	if _, err := l.run(sp.apply()); !errors.Is(err, errStale) {
		t.Fatalf("stale world: %v", err)
	}
	if l.allChanges() != before || l.read().Serial != serial {
		t.Fatal("a refused plan changed the hosts or the state")
	}
}
