package reconcile

import (
	"reflect"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
)

// Apply rolls out by the plan's levels: a full STACK_SERVICE name in
// depends_on puts web after db, not beside it (apply's own copy of the
// order once read only names of the stack).
func TestRolloutLevelsFollowThePlan(t *testing.T) {
	cache := svc("cache", 1, "cache:1")
	db := svc("db", 1, "db:1", func(s *cluster.Service) { s.DependsOn = []string{"cache"} })
	web := svc("web", 2, "web:1", func(s *cluster.Service) { s.DependsOn = []string{"demo_db"} })
	p, err := planner.Compute(planner.Input{Services: []*cluster.Service{web, db, cache},
		Observed: []cluster.HostObservation{{Node: cluster.Node{Name: "h1", Ready: true, Role: cluster.Manager, Availability: cluster.Active, OS: "linux", Arch: "x86_64"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, level := range rolloutLevels(p) {
		var names []string
		for _, g := range level {
			names = append(names, g[0].Service)
		}
		got = append(got, names)
	}
	if want := [][]string{{"demo_cache"}, {"demo_db"}, {"demo_web"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rollout levels %q, want %q", got, want)
	}
}
