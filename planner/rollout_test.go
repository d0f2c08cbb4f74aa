package planner

import (
	"reflect"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// The plan decides each rolling update: batches of parallelism, in slot
// order, stop-first or start-first, with update_config or (service
// rollback) rollback_config.
func TestPlanRollouts(t *testing.T) {
	old := svc("app", "web", 5, gen(1))
	pol := func(order cluster.UpdateOrder, parallelism int) cluster.UpdatePolicy {
		return cluster.UpdatePolicy{Parallelism: parallelism, Order: order, FailureAction: "pause"}
	}
	policy := func(order cluster.UpdateOrder, parallelism int) svcMod {
		return func(s *cluster.Service) {
			s.Update, s.Rollback = pol(order, parallelism), pol("stop-first", 1)
		}
	}
	// One replica per host (a published port fits), slot 4's exited.
	observed := func(s *cluster.Service) []cluster.HostObservation {
		return []cluster.HostObservation{host("h1", runs(rep(old, "1", "a"))), host("h2", runs(rep(old, "2", "b"))), host("h3", runs(rep(old, "3", "c"))),
			host("h4", runs(rep(old, "4", "d", exited(1)))), host("h5", runs(rep(old, "5", "e")))}
	}
	for _, tc := range []struct {
		name     string
		next     *cluster.Service
		rollback bool
		want     Rollout
	}{
		{
			name: "batches of two, start-first; the exited replica is not rolled",
			next: svc("app", "web", 5, gen(2), image("web:2"), policy("start-first", 2)),
			want: Rollout{Service: "app_web", Batches: [][]string{{"1", "2"}, {"3", "5"}}, Policy: pol("start-first", 2)},
		},
		{
			name: "parallelism 0 is one batch",
			next: svc("app", "web", 5, gen(2), image("web:2"), policy("stop-first", 0)),
			want: Rollout{Service: "app_web", StopFirst: true, Batches: [][]string{{"1", "2", "3", "5"}}, Policy: pol("stop-first", 0)},
		},
		{
			name: "a published host port makes start-first stop-first",
			next: svc("app", "web", 5, gen(2), image("web:2"), policy("start-first", 3), publish(8080)),
			want: Rollout{Service: "app_web", StopFirst: true, Fallback: fallbackPorts, Batches: [][]string{{"1", "2", "3"}, {"5"}}, Policy: pol("start-first", 3)},
		},
		{
			name:     "service rollback rolls with rollback_config",
			next:     svc("app", "web", 5, gen(2), image("web:2"), policy("start-first", 4)),
			rollback: true,
			want:     Rollout{Service: "app_web", StopFirst: true, Batches: [][]string{{"1"}, {"2"}, {"3"}, {"5"}}, Policy: pol("stop-first", 1)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := Input{Services: []*cluster.Service{tc.next}, Observed: observed(tc.next), UseRollbackPolicy: tc.rollback}
			p := mustCompute(t, in)
			got, ok := p.Rollout("app_web")
			if !ok || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("rollout %+v (%v)\nwant    %+v\nplan %v", got, ok, tc.want, changes(p))
			}
		})
	}
	// Nothing to replace: no rollout.
	p := mustCompute(t, Input{Services: []*cluster.Service{old}, Observed: []cluster.HostObservation{host("h1")}})
	if _, ok := p.Rollout("app_web"); ok || len(p.Rollouts) != 0 {
		t.Fatalf("a plan of creates has rollouts %+v", p.Rollouts)
	}
}
