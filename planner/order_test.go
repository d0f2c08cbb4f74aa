package planner

import (
	"reflect"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// The plan's dependency levels are what apply rolls out by: a service is
// one level after the deepest service it depends on, however depends_on
// names it.
func TestDependencyLevels(t *testing.T) {
	h1 := []cluster.HostObservation{host("h1")}
	for _, tc := range []struct {
		name     string
		services []*cluster.Service
		scope    map[string]bool
		want     [][]string
	}{
		{
			name:     "independent services share a level",
			services: []*cluster.Service{svc("app", "web", 1), svc("app", "db", 1)},
			want:     [][]string{{"app_db", "app_web"}},
		},
		{
			name: "a chain, named in the stack",
			services: []*cluster.Service{svc("app", "web", 1, dependsOn("api")), svc("app", "api", 1, dependsOn("db", "cache")),
				svc("app", "db", 1), svc("app", "cache", 1)},
			want: [][]string{{"app_cache", "app_db"}, {"app_api"}, {"app_web"}},
		},
		{
			// Reconcile's own copy of the order resolved only names of the
			// stack: web ran beside db.
			name: "a full STACK_SERVICE name after a deeper dependency",
			services: []*cluster.Service{svc("app", "cache", 1), svc("app", "db", 1, dependsOn("cache")),
				svc("app", "web", 1, dependsOn("app_db"))},
			want: [][]string{{"app_cache"}, {"app_db"}, {"app_web"}},
		},
		{
			name:     "a dependency outside the scope imposes nothing",
			services: []*cluster.Service{svc("app", "web", 1, dependsOn("data_db")), svc("data", "db", 1)},
			scope:    map[string]bool{"app": true},
			want:     [][]string{{"app_web"}},
		},
		{
			name:     "an unknown dependency imposes nothing",
			services: []*cluster.Service{svc("app", "web", 1, dependsOn("nope"))},
			want:     [][]string{{"app_web"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompute(t, Input{Services: tc.services, Scope: tc.scope, Observed: h1})
			if !reflect.DeepEqual(p.Levels, tc.want) {
				t.Errorf("levels %q, want %q", p.Levels, tc.want)
			}
			for i, names := range tc.want {
				for _, n := range names {
					if got := p.Level(n); got != i {
						t.Errorf("Level(%s) = %d, want %d", n, got, i)
					}
				}
			}
		})
	}
}
