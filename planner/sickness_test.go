package planner

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func TestUnhealthyGraceAndDrift(t *testing.T) {
	s := svc("st", "web", 2)
	unhealthyFor := func(d time.Duration) func(*cluster.Replica) {
		return func(r *cluster.Replica) { r.Health = "unhealthy"; r.UnhealthySince = t0.Add(-d) }
	}
	drifted := func(r *cluster.Replica) { r.Drift = []string{"memory limit changed"} }
	cases := []struct {
		name     string
		mod      func(*cluster.Replica)
		grace    time.Duration
		fixDrift bool
		want     []string
		reason   string
		warning  string
	}{
		{"unhealthy within grace", unhealthyFor(30 * time.Second), time.Minute, false, nil, "", ""},
		{"unhealthy past grace", unhealthyFor(2 * time.Minute), time.Minute, false, []string{"replace st_web.1@h1"}, "unhealthy for 2m0s", ""},
		{"grace off", unhealthyFor(time.Hour), 0, false, nil, "", ""},
		{"drift reported", drifted, 0, false, nil, "", "drifted from its spec (memory limit changed)"},
		{"drift fixed", drifted, 0, true, []string{"replace st_web.1@h1"}, "drifted: memory limit changed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{
				Services: []*cluster.Service{s},
				Observed: []cluster.HostObservation{
					host("h1", runs(rep(s, "1", "a", c.mod))),
					host("h2", runs(rep(s, "2", "b"))),
				},
				Now: t0, UnhealthyGrace: c.grace, FixDrift: c.fixDrift,
			}
			p := mustCompute(t, in)
			if got := changes(p); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("changes %v, want %v", got, c.want)
			}
			if c.reason != "" && p.Actions[0].Reason != c.reason {
				t.Errorf("reason %q, want %q", p.Actions[0].Reason, c.reason)
			}
			if c.warning != "" && !strings.Contains(strings.Join(p.Warnings, "\n"), c.warning) {
				t.Errorf("warnings %q lack %q", p.Warnings, c.warning)
			}
			// Replaced in place: the slot stays on its host.
			if len(c.want) > 0 {
				after := apply(in, p)
				if p2 := mustCompute(t, Input{Services: in.Services, Observed: after.Observed, Now: t0, UnhealthyGrace: c.grace, FixDrift: c.fixDrift}); !p2.Empty() {
					t.Errorf("not converged after the replacement: %v", changes(p2))
				}
			}
		})
	}
}
