package command

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/state"
)

// demoStack builds a fresh stack each call: mergeStack keeps the pointers
// it is given.
func demoStack(mods ...func(*cluster.Stack)) *cluster.Stack {
	pol := cluster.DefaultUpdatePolicy()
	st := &cluster.Stack{
		Name: "demo",
		Services: map[string]*cluster.Service{
			"web": {Stack: "demo", Name: "web", Mode: cluster.Replicated, Replicas: 2, Update: pol, Rollback: cluster.DefaultRollbackPolicy(),
				Container: cluster.ContainerSpec{Image: "web:v1", Env: map[string]string{"A": "one", "TOKEN": "s3cr3t-old"}}},
			"db": {Stack: "demo", Name: "db", Mode: cluster.Replicated, Replicas: 1, Update: pol, Rollback: cluster.DefaultRollbackPolicy(),
				Container: cluster.ContainerSpec{Image: "postgres:16"}},
		},
		Networks: map[string]cluster.Network{"default": {Name: "demo_default"}},
	}
	for _, m := range mods {
		m(st)
	}
	return st
}

func TestMergeStack(t *testing.T) {
	s := state.New("lab")
	sum := mergeStack(s, demoStack(), false, "stack deploy demo")
	if sum != "stack demo: added db,web" {
		t.Errorf("summary %q", sum)
	}
	st := s.Stacks["demo"]
	for _, name := range []string{"web", "db"} {
		sv := st.Services[name]
		if sv.Current.Generation != 1 || !reflect.DeepEqual(sv.Meta.Changes, []string{"created"}) || sv.Meta.Command != "stack deploy demo" || sv.Meta.By == "" {
			t.Errorf("%s: gen %d meta %+v", name, sv.Current.Generation, sv.Meta)
		}
	}
	if st.Networks["default"].Name != "demo_default" {
		t.Errorf("networks %v", st.Networks)
	}

	// The same files again: nothing changes, generations stay.
	webBefore := st.Services["web"].Current
	if sum := mergeStack(s, demoStack(), false, "stack deploy demo"); sum != "stack demo unchanged" {
		t.Errorf("summary %q", sum)
	}
	if st.Services["web"].Current != webBefore || st.Services["web"].Current.Generation != 1 || len(st.Services["web"].Previous) != 0 {
		t.Errorf("an unchanged service was replaced: %+v", st.Services["web"])
	}

	// Image and env changed: a new generation whose description names the
	// env keys, never their values.
	sum = mergeStack(s, demoStack(func(st *cluster.Stack) {
		c := &st.Services["web"].Container
		c.Image = "web:v2"
		c.Env = map[string]string{"TOKEN": "s3cr3t-new", "NEW": "v4lue"}
	}), false, "stack deploy demo")
	if sum != "stack demo: changed web" {
		t.Errorf("summary %q", sum)
	}
	web := st.Services["web"]
	if web.Current.Generation != 2 || len(web.Previous) != 1 || web.Previous[0].Spec.Generation != 1 {
		t.Errorf("generations: current %d, previous %+v", web.Current.Generation, web.Previous)
	}
	want := []string{"image web:v1 → web:v2", "env A removed", "env NEW added", "env TOKEN changed"}
	if !reflect.DeepEqual(web.Meta.Changes, want) {
		t.Errorf("changes %q, want %q", web.Meta.Changes, want)
	}
	for _, c := range web.Meta.Changes {
		for _, secret := range []string{"one", "s3cr3t", "v4lue"} {
			if strings.Contains(c, secret) {
				t.Errorf("change %q shows an env value", c)
			}
		}
	}
	if db := st.Services["db"]; db.Current.Generation != 1 {
		t.Errorf("db changed generation: %d", db.Current.Generation)
	}

	// Replicas only; then deploy settings only; then a label only.
	for _, c := range []struct {
		mod  func(*cluster.Service)
		want []string
	}{
		{func(s *cluster.Service) { s.Replicas = 5 }, []string{"replicas 2 → 5"}},
		{func(s *cluster.Service) { s.Replicas = 5; s.Update.Delay = 10 * time.Second }, []string{"deploy settings changed"}},
		{func(s *cluster.Service) {
			s.Replicas = 5
			s.Update.Delay = 10 * time.Second
			s.Container.Labels = map[string]string{"team": "x"}
		}, []string{"container spec changed"}},
	} {
		gen := web.Current.Generation
		mergeStack(s, demoStack(func(st *cluster.Stack) {
			w := st.Services["web"]
			w.Container.Image = "web:v2"
			w.Container.Env = map[string]string{"TOKEN": "s3cr3t-new", "NEW": "v4lue"}
			c.mod(w)
		}), false, "stack deploy demo")
		if web.Current.Generation != gen+1 || !reflect.DeepEqual(web.Meta.Changes, c.want) {
			t.Errorf("gen %d→%d, changes %q, want %q", gen, web.Current.Generation, web.Meta.Changes, c.want)
		}
	}

	// A service missing from the files stays unless pruned.
	noDB := func(st *cluster.Stack) { delete(st.Services, "db") }
	keepAll := func(st *cluster.Stack) {
		w := st.Services["web"]
		*w = *web.Current
		w.Generation = 0
	}
	if sum := mergeStack(s, demoStack(noDB, keepAll), false, "stack deploy demo"); sum != "stack demo unchanged" {
		t.Errorf("without prune: %q", sum)
	}
	if _, ok := st.Services["db"]; !ok {
		t.Fatal("db removed without --prune")
	}
	if sum := mergeStack(s, demoStack(noDB, keepAll), true, "stack deploy demo --prune"); sum != "stack demo: pruned db" {
		t.Errorf("with prune: %q", sum)
	}
	if _, ok := st.Services["db"]; ok {
		t.Error("db kept with --prune")
	}
}

func TestSameServiceIgnoresGeneration(t *testing.T) {
	a := demoStack().Services["web"]
	b := demoStack().Services["web"]
	a.Generation, b.Generation = 3, 7
	if !sameService(a, b) {
		t.Error("generation alone makes services differ")
	}
	b.Container.Env["A"] = "two"
	if sameService(a, b) {
		t.Error("an env value change went unnoticed")
	}
}
