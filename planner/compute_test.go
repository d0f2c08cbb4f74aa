package planner

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func TestSpreadAcrossNodes(t *testing.T) {
	for _, replicas := range []int{1, 2, 3, 4, 7, 10} {
		web := svc("demo", "web", replicas)
		in := Input{Services: []*cluster.Service{web}, Observed: []cluster.HostObservation{host("h1"), host("h2"), host("h3")}}
		p := mustCompute(t, in)
		counts := perHost(in, p, "demo_web")
		lo, hi := replicas, 0
		for _, h := range []string{"h1", "h2", "h3"} {
			lo, hi = min(lo, counts[h]), max(hi, counts[h])
		}
		if hi-lo > 1 {
			t.Errorf("%d replicas: uneven spread %v", replicas, counts)
		}
		if p.Changes() != replicas {
			t.Errorf("%d replicas: %d changes: %v", replicas, p.Changes(), changes(p))
		}
	}
	// Fewest replicas overall breaks ties between nodes without the service.
	busy := svc("other", "busy", 1)
	in := Input{
		Services: []*cluster.Service{svc("demo", "web", 2), busy},
		Observed: []cluster.HostObservation{host("h1", runs(rep(busy, "1", "b1"))), host("h2"), host("h3")},
	}
	if got, want := changes(mustCompute(t, in)), []string{"create demo_web.1@h2", "create demo_web.2@h3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestGlobal(t *testing.T) {
	mon := svc("ops", "mon", 0, global, constraints("node.labels.skip != yes"))
	in := Input{
		Services: []*cluster.Service{mon},
		Observed: []cluster.HostObservation{
			host("h1"), host("h2", avail(cluster.Drain)), host("h3", down), host("h4", label("skip", "yes")),
			host("h5", avail(cluster.Pause)), host("h6"),
		},
	}
	p := mustCompute(t, in)
	if got, want := changes(p), []string{"create ops_mon.h1@h1", "create ops_mon.h6@h6"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Existing replicas: kept on the paused node, removed from the drained
	// one and from a node that no longer meets the constraint.
	in.Observed[1] = host("h2", avail(cluster.Drain), runs(rep(mon, "h2", "a")))
	in.Observed[3] = host("h4", label("skip", "yes"), runs(rep(mon, "h4", "b")))
	in.Observed[4] = host("h5", avail(cluster.Pause), runs(rep(mon, "h5", "c")))
	p = mustCompute(t, in)
	want := []string{"create ops_mon.h1@h1", "remove ops_mon.h2@h2", "remove ops_mon.h4@h4", "create ops_mon.h6@h6"}
	if got := changes(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, a := range p.Actions {
		if a.Slot == "h4" && a.Reason != "node h4 fails node.labels.skip != yes" {
			t.Errorf("reason %q", a.Reason)
		}
		if a.Slot == "h5" && a.Kind != Keep {
			t.Errorf("paused node's replica: %s", a.Kind)
		}
	}
	// An outdated global replica on a paused node cannot be replaced (no new
	// containers there) nor moved: it stays, with a warning; an exited one
	// is removed.
	mon2 := svc("ops", "mon", 0, global, image("mon:v2"), constraints("node.labels.skip != yes"))
	in.Services = []*cluster.Service{mon2}
	in.Observed = []cluster.HostObservation{
		host("h1", runs(rep(mon2, "h1", "a"))),
		host("h5", avail(cluster.Pause), runs(rep(mon2, "h5", "c", outdated(mon)))),
		host("h6", avail(cluster.Pause), runs(rep(mon2, "h6", "d", exited(3)))),
	}
	p = mustCompute(t, in)
	if got, want := changes(p), []string{"remove ops_mon.h6@h6"}; !reflect.DeepEqual(got, want) || len(p.Warnings) != 1 {
		t.Errorf("got %v (warnings %q), want %v", got, p.Warnings, want)
	}
}

func TestConstraints(t *testing.T) {
	hosts := []cluster.HostObservation{
		host("h1", manager, label("zone", "a"), label("ssd", "true")),
		host("h2", label("zone", "b")),
		host("h3", arch("arm64"), label("zone", "A")),
	}
	tests := []struct {
		constraint string
		want       string // hosts that get the global service
	}{
		{"node.role == manager", "h1"},
		{"node.role != manager", "h2 h3"},
		{"node.role==Manager", "h1"},
		{"  node.hostname   ==  h2 ", "h2"},
		{"node.id == h3", "h3"},
		{"node.hostname != h2", "h1 h3"},
		{"node.labels.zone == a", "h1 h3"}, // values are case-insensitive
		{"node.labels.zone != a", "h2"},
		{"node.labels.ssd == true", "h1"},
		{"node.labels.ssd != true", "h2 h3"}, // a missing label passes !=
		{"node.labels.nope == x", ""},        // and fails ==
		{"node.platform.os == linux", "h1 h2 h3"},
		{"node.platform.arch == arm64", "h3"},
		{"node.platform.arch == x86_64", "h1 h2"}, // docker's spelling of amd64
		{"NODE.LABELS.zone == b", "h2"},
	}
	for _, tt := range tests {
		s := svc("t", "g", 0, global, constraints(tt.constraint))
		p := mustCompute(t, Input{Services: []*cluster.Service{s}, Observed: hosts})
		var got []string
		for _, a := range p.Actions {
			got = append(got, a.Host)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q: placed on %v, want %q", tt.constraint, got, tt.want)
		}
	}
}

func TestMalformedConstraint(t *testing.T) {
	for _, expr := range []string{"node.labels.x = y", "node.foo == bar", "node.role ==", "a == b == c", "node.labels. == x", "node.role == a != b"} {
		s := svc("demo", "db", 1, constraints(expr))
		_, err := Compute(Input{Services: []*cluster.Service{s}, Observed: []cluster.HostObservation{host("h1")}})
		if err == nil || !strings.Contains(err.Error(), "demo_db") || !strings.Contains(err.Error(), expr) {
			t.Errorf("%q: error %v, want one naming the service and the expression", expr, err)
		}
	}
	s := svc("demo", "db", 1, spread("node.foo"))
	if _, err := Compute(Input{Services: []*cluster.Service{s}}); err == nil || !strings.Contains(err.Error(), "spread") {
		t.Errorf("bad spread: %v", err)
	}
	// An out-of-scope service's bad constraint does not block other stacks.
	in := Input{Services: []*cluster.Service{s, svc("app", "web", 1)}, Scope: map[string]bool{"app": true}, Observed: []cluster.HostObservation{host("h1")}}
	mustCompute(t, in)
}

func TestSpreadPreferences(t *testing.T) {
	hosts := []cluster.HostObservation{
		host("a1", label("zone", "a"), label("rack", "r1")),
		host("a2", label("zone", "a"), label("rack", "r1")),
		host("a3", label("zone", "a"), label("rack", "r2")),
		host("b1", label("zone", "b"), label("rack", "r1")),
		host("x1"), // no zone: a group of its own
	}
	web := svc("demo", "web", 6, spread("node.labels.zone", "node.labels.rack"))
	in := Input{Services: []*cluster.Service{web}, Observed: hosts}
	c := perHost(in, mustCompute(t, in), "demo_web")
	// 6 over 3 zone groups: 2 each. Zone a: one per rack, then r1's two
	// nodes share their one.
	zone := map[string]int{"a": c["a1"] + c["a2"] + c["a3"], "b": c["b1"], "none": c["x1"]}
	if zone["a"] != 2 || zone["b"] != 2 || zone["none"] != 2 {
		t.Errorf("zones %v (nodes %v)", zone, c)
	}
	if c["a1"]+c["a2"] != 1 || c["a3"] != 1 {
		t.Errorf("racks in zone a: %v", c)
	}

	// Existing replicas count: zone a already has 3, so new ones go to b and
	// the unlabelled group first.
	hosts[0] = host("a1", label("zone", "a"), label("rack", "r1"), runs(rep(web, "1", "x"), rep(web, "2", "y")))
	hosts[2] = host("a3", label("zone", "a"), label("rack", "r2"), runs(rep(web, "3", "z")))
	web.Replicas = 7
	in = Input{Services: []*cluster.Service{web}, Observed: hosts}
	c = perHost(in, mustCompute(t, in), "demo_web")
	if c["b1"] != 2 || c["x1"] != 2 || c["a1"]+c["a2"]+c["a3"] != 3 {
		t.Errorf("after scale up: %v", c)
	}
}

func TestMaxReplicasPerNode(t *testing.T) {
	hosts := []cluster.HostObservation{host("h1"), host("h2"), host("h3")}
	web := svc("demo", "web", 3, maxPer(1))
	in := Input{Services: []*cluster.Service{web}, Observed: hosts}
	if c := perHost(in, mustCompute(t, in), "demo_web"); c["h1"] != 1 || c["h2"] != 1 || c["h3"] != 1 {
		t.Errorf("%v", c)
	}
	web.Replicas = 4
	err := unschedulable(t, in)
	if err == nil || err.Error() != "demo_web: 1 replica unschedulable: 3 nodes have reached max_replicas_per_node (1)" {
		t.Errorf("err = %v", err)
	}
	// Lowering the limit moves the excess off a node, highest slot first.
	web.Replicas = 3
	web.Placement.MaxReplicasPerNode = 2
	in.Observed = []cluster.HostObservation{host("h1", runs(rep(web, "1", "a"), rep(web, "2", "b"), rep(web, "3", "c"))), host("h2"), host("h3")}
	p := mustCompute(t, in)
	if got, want := changes(p), []string{"remove demo_web.3@h1", "create demo_web.3@h2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestReservations(t *testing.T) {
	big := svc("demo", "big", 3, reserve(1.5, 1<<30))
	hosts := []cluster.HostObservation{host("h1", capacity(2, 8<<30)), host("h2", capacity(2, 8<<30))}
	err := unschedulable(t, Input{Services: []*cluster.Service{big}, Observed: hosts})
	if err == nil || err.Error() != "demo_big: 1 replica unschedulable: 2 nodes have insufficient CPU" {
		t.Errorf("err = %v", err)
	}
	big.Replicas = 2
	mustCompute(t, Input{Services: []*cluster.Service{big}, Observed: hosts})

	// Memory, with an out-of-scope service's replica holding most of h1.
	hog := svc("other", "hog", 1, reserve(0, 7<<30))
	fat := svc("demo", "fat", 2, reserve(0, 5<<30))
	in := Input{
		Services: []*cluster.Service{hog, fat},
		Scope:    map[string]bool{"demo": true},
		Observed: []cluster.HostObservation{host("h1", runs(rep(hog, "1", "h"))), host("h2"), host("h3", capacity(4, 1<<30))},
	}
	err = unschedulable(t, in)
	if err == nil || err.Error() != "demo_fat: 1 replica unschedulable: 3 nodes have insufficient memory" {
		t.Errorf("err = %v", err)
	}
	fat.Replicas = 1
	if got := changes(mustCompute(t, in)); !reflect.DeepEqual(got, []string{"create demo_fat.1@h2"}) {
		t.Errorf("got %v", got)
	}
	// Reservations of replicas planned in the same run count too.
	a := svc("demo", "a", 1, reserve(3, 0))
	b := svc("demo", "b", 1, reserve(3, 0))
	in = Input{Services: []*cluster.Service{a, b}, Observed: []cluster.HostObservation{host("h1"), host("h2")}}
	if got := changes(mustCompute(t, in)); !reflect.DeepEqual(got, []string{"create demo_a.1@h1", "create demo_b.1@h2"}) {
		t.Errorf("got %v", got)
	}
}

func TestHostPorts(t *testing.T) {
	web := svc("demo", "web", 3, publish(8080))
	hosts := []cluster.HostObservation{host("h1"), host("h2"), host("h3", down)}
	err := unschedulable(t, Input{Services: []*cluster.Service{web}, Observed: hosts})
	var ue *UnschedulableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnschedulableError", err)
	}
	if want := "demo_web: 1 replica unschedulable: 2 nodes have port 8080/tcp in use, 1 node is not ready"; err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if ue.Services[0].Replicas != 1 || ue.Services[0].Reasons[0].Nodes != 2 {
		t.Errorf("%+v", ue.Services)
	}

	// A container of another stack binding the port keeps it.
	other := svc("other", "proxy", 1)
	squatter := rep(other, "1", "p")
	squatter.Ports = []string{"8080/tcp"}
	web.Replicas = 1
	in := Input{Services: []*cluster.Service{web, other}, Scope: map[string]bool{"demo": true},
		Observed: []cluster.HostObservation{host("h1", runs(squatter)), host("h2")}}
	if got := changes(mustCompute(t, in)); !reflect.DeepEqual(got, []string{"create demo_web.1@h2"}) {
		t.Errorf("got %v", got)
	}

	// Two services publishing one port: a plan error naming both.
	api := svc("api", "gw", 1, publish(8080))
	_, err = Compute(Input{Services: []*cluster.Service{web, api}, Observed: hosts})
	if err == nil || !strings.Contains(err.Error(), "api_gw") || !strings.Contains(err.Error(), "demo_web") || errors.As(err, &ue) {
		t.Errorf("err = %v", err)
	}
}

func TestScaleUpDown(t *testing.T) {
	web := svc("demo", "web", 3)
	hosts := []cluster.HostObservation{
		host("h1", runs(rep(web, "1", "a"))), host("h2", runs(rep(web, "2", "b"))), host("h3", runs(rep(web, "3", "c"))),
	}
	web.Replicas = 5
	p := mustCompute(t, Input{Services: []*cluster.Service{web}, Observed: hosts})
	if got, want := changes(p), []string{"create demo_web.4@h1", "create demo_web.5@h2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("up: got %v, want %v", got, want)
	}
	web.Replicas = 1
	p = mustCompute(t, Input{Services: []*cluster.Service{web}, Observed: hosts})
	if got, want := changes(p), []string{"remove demo_web.3@h3", "remove demo_web.2@h2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("down: got %v, want %v", got, want)
	}
	for _, a := range p.Actions {
		if a.Kind == Remove && a.Reason != "scale down" {
			t.Errorf("reason %q", a.Reason)
		}
	}
	web.Replicas = 0
	if got := changes(mustCompute(t, Input{Services: []*cluster.Service{web}, Observed: hosts})); len(got) != 3 {
		t.Errorf("to zero: %v", got)
	}
}

func TestStability(t *testing.T) {
	web := svc("demo", "web", 3)
	in := Input{
		Services: []*cluster.Service{web},
		Observed: []cluster.HostObservation{host("h1", runs(rep(web, "1", "a"), rep(web, "2", "b"), rep(web, "3", "c"))), host("h2"), host("h3")},
	}
	p := mustCompute(t, in)
	if !p.Empty() || len(p.Actions) != 3 {
		t.Errorf("imbalanced but up to date must stay: %v", changes(p))
	}
	// Planning, applying and planning again leaves nothing to do.
	web.Replicas = 6
	p = mustCompute(t, in)
	if p2 := mustCompute(t, apply(in, p)); !p2.Empty() {
		t.Errorf("second plan: %v", changes(p2))
	}
}

func TestReplaceOnSpecChange(t *testing.T) {
	v1 := svc("demo", "api", 2, func(s *cluster.Service) {
		s.Container.Env = map[string]string{"FOO": "secret-1", "GONE": "x"}
	})
	v2 := svc("demo", "api", 2, image("api:v2"), gen(2), func(s *cluster.Service) {
		s.Container.Env = map[string]string{"FOO": "secret-2", "BAR": "new-secret"}
		s.Container.Command = []string{"serve", "--token=hunter2"}
	})
	hosts := []cluster.HostObservation{
		host("h1", runs(rep(v2, "1", "a", outdated(v1)))),
		host("h2", runs(rep(v2, "2", "b", outdated(v1)))),
	}
	specs := map[string]cluster.ContainerSpec{v1.Container.Hash(): v1.Container}
	p := mustCompute(t, Input{Services: []*cluster.Service{v2}, Observed: hosts, Specs: specs})
	if got, want := changes(p), []string{"replace demo_api.1@h1", "replace demo_api.2@h2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	a := p.Actions[0]
	wantChanges := []string{"image api:v1 → api:v2", "env BAR added", "env FOO changed", "env GONE removed", "command changed"}
	if !reflect.DeepEqual(a.Changes, wantChanges) || a.Reason != "spec changed" || a.Generation != 2 || a.SpecHash != v2.Container.Hash() || a.Old.ID != "a" {
		t.Errorf("%+v", a)
	}
	out, _ := json.Marshal(p)
	for _, secret := range []string{"secret-1", "secret-2", "new-secret", "hunter2"} {
		if strings.Contains(string(out)+p.String(), secret) {
			t.Errorf("plan leaks %q", secret)
		}
	}
	// Unknown old spec.
	p = mustCompute(t, Input{Services: []*cluster.Service{v2}, Observed: hosts})
	if !reflect.DeepEqual(p.Actions[0].Changes, []string{"spec changed"}) {
		t.Errorf("changes %v", p.Actions[0].Changes)
	}
	// A new spec that no longer fits on the old host moves the slot.
	v3 := svc("demo", "api", 2, image("api:v3"), reserve(3, 0))
	hosts = []cluster.HostObservation{
		host("h1", runs(rep(v2, "1", "a"), rep(v2, "2", "b"))),
		host("h2"),
		host("h3", capacity(2, 8<<30)),
	}
	specs[v2.Container.Hash()] = v2.Container
	p = mustCompute(t, Input{Services: []*cluster.Service{v3}, Observed: hosts, Specs: specs})
	want := []string{"replace demo_api.1@h1", "remove demo_api.2@h1", "create demo_api.2@h2"}
	if got := changes(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if c := p.Actions[2]; c.From != "h1" || c.Reason != "moved from h1: spec changed; node h1 has insufficient CPU" || len(c.Changes) == 0 {
		t.Errorf("%+v", c)
	}
}

func TestDuplicates(t *testing.T) {
	web := svc("demo", "web", 2)
	old := svc("demo", "web", 2, image("web:v0"))
	tests := []struct {
		name  string
		hosts []cluster.HostObservation
		want  []string
	}{
		{"up to date beats outdated",
			[]cluster.HostObservation{host("h1", runs(rep(web, "1", "a", outdated(old), createdAt(time.Hour)))), host("h2", runs(rep(web, "1", "b"), rep(web, "2", "c")))},
			[]string{"remove demo_web.1@h1"}},
		{"running beats exited",
			[]cluster.HostObservation{host("h1", runs(rep(web, "1", "a", exited(1), createdAt(time.Hour)))), host("h2", runs(rep(web, "1", "b"))), host("h3", runs(rep(web, "2", "c")))},
			[]string{"remove demo_web.1@h1"}},
		{"fewer replicas on the node wins (restores spread)",
			[]cluster.HostObservation{host("h1", runs(rep(web, "1", "a", createdAt(time.Hour)), rep(web, "2", "b"))), host("h2", runs(rep(web, "1", "c")))},
			[]string{"remove demo_web.1@h1"}},
		{"then the newer one",
			[]cluster.HostObservation{host("h1", runs(rep(web, "1", "a"))), host("h2", runs(rep(web, "1", "b", createdAt(time.Minute)))), host("h3", runs(rep(web, "2", "c")))},
			[]string{"remove demo_web.1@h1"}},
		{"same host",
			[]cluster.HostObservation{host("h1", runs(rep(web, "1", "a"), rep(web, "1", "b", createdAt(time.Minute)))), host("h2", runs(rep(web, "2", "c")))},
			[]string{"remove demo_web.1@h1"}},
	}
	for _, tt := range tests {
		p := mustCompute(t, Input{Services: []*cluster.Service{web}, Observed: tt.hosts})
		if got := changes(p); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		for _, a := range p.Actions {
			if a.Kind == Remove && a.Reason != "duplicate of slot 1" {
				t.Errorf("%s: reason %q", tt.name, a.Reason)
			}
			if tt.name == "same host" && a.Kind == Remove && a.Old.ID != "a" {
				t.Errorf("same host: removed %s, want the older a", a.Old.ID)
			}
		}
	}
}

func TestExitedContainers(t *testing.T) {
	job := func(restart string) *cluster.Service {
		return svc("demo", "job", 1, func(s *cluster.Service) { s.Container.Restart = restart })
	}
	tests := []struct {
		restart string
		code    int
		kind    Kind
		reason  string
	}{
		{"always", 1, Replace, "container exited (code 1)"},
		{"always", 0, Replace, "container exited (code 0)"},
		{"no", 0, Keep, "completed (exit 0)"},
		{"on-failure:3", 0, Keep, "completed (exit 0)"},
		{"no", 137, Replace, "container exited (code 137)"},
	}
	for _, tt := range tests {
		s := job(tt.restart)
		p := mustCompute(t, Input{Services: []*cluster.Service{s}, Observed: []cluster.HostObservation{host("h1", runs(rep(s, "1", "a", exited(tt.code))))}})
		if a := p.Actions[0]; len(p.Actions) != 1 || a.Kind != tt.kind || a.Reason != tt.reason || a.Host != "h1" {
			t.Errorf("restart %s code %d: %+v", tt.restart, tt.code, p.Actions)
		}
	}
	s := job("always")
	r := rep(s, "1", "a")
	r.State = cluster.StateCreated
	p := mustCompute(t, Input{Services: []*cluster.Service{s}, Observed: []cluster.HostObservation{host("h1", runs(r))}})
	if p.Actions[0].Reason != "container never started" {
		t.Errorf("%+v", p.Actions[0])
	}
}

func TestDrainedAndPausedNodes(t *testing.T) {
	web := svc("demo", "web", 4)
	in := Input{
		Services: []*cluster.Service{web},
		Observed: []cluster.HostObservation{
			host("h1", avail(cluster.Drain), runs(rep(web, "1", "a"))),
			host("h2", avail(cluster.Pause), runs(rep(web, "2", "b"), rep(web, "3", "c", exited(2)))),
			host("h3"),
			host("h4"),
		},
	}
	p := mustCompute(t, in)
	want := []string{"remove demo_web.1@h1", "create demo_web.1@h3", "remove demo_web.3@h2", "create demo_web.3@h4", "create demo_web.4@h3"}
	if got := changes(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	byKey := map[string]Action{}
	for _, a := range p.Actions {
		byKey[string(a.Kind)+a.Slot] = a
	}
	if a := byKey["remove1"]; a.Reason != "node h1 is drained" {
		t.Errorf("%+v", a)
	}
	if a := byKey["create1"]; a.From != "h1" || a.Reason != "moved from h1: node h1 is drained" {
		t.Errorf("%+v", a)
	}
	if a := byKey["remove3"]; a.Reason != "container exited (code 2); node h2 is paused" {
		t.Errorf("%+v", a)
	}
	if a := byKey["keep2"]; a.Host != "h2" {
		t.Errorf("paused node's running replica must stay: %+v", a)
	}
	if p2 := mustCompute(t, apply(in, p)); !p2.Empty() {
		t.Errorf("second plan: %v", changes(p2))
	}
}

func TestDownNodes(t *testing.T) {
	web := svc("demo", "web", 3)
	a, b, c := rep(web, "1", "a"), rep(web, "2", "b"), rep(web, "3", "c")
	in := Input{
		Services: []*cluster.Service{web},
		Observed: []cluster.HostObservation{host("h1", runs(a)), host("h2", down), host("h3", runs(c))},
	}
	p := mustCompute(t, in)
	if got, want := changes(p), []string{"create demo_web.2@h1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// h2 comes back with its old replica: the one on h1 (now holding two)
	// goes, the spread is restored.
	after := apply(in, p)
	after.Observed[1] = host("h2", runs(b))
	p = mustCompute(t, after)
	if got, want := changes(p), []string{"remove demo_web.2@h1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Containers reported on a node that is not ready are ignored, with a warning.
	in.Observed[1] = host("h2", down, runs(b))
	p = mustCompute(t, in)
	if len(p.Warnings) != 1 || len(changes(p)) != 1 {
		t.Errorf("%v %v", changes(p), p.Warnings)
	}
}

func TestUnschedulableError(t *testing.T) {
	db := svc("numbers", "db", 1, constraints("node.labels.storage == raid"))
	web := svc("numbers", "web", 3, publish(8080))
	hosts := []cluster.HostObservation{host("h1"), host("h2"), host("h3"), host("h4", down), host("h5", down)}
	hosts[0] = host("h1", runs(rep(svc("x", "lb", 1, publish(8080)), "1", "l")))
	// x_lb is out of scope: it keeps its port.
	err := unschedulable(t, Input{Services: []*cluster.Service{db, web}, Observed: hosts, Scope: map[string]bool{"numbers": true}})
	var ue *UnschedulableError
	if !errors.As(err, &ue) || len(ue.Services) != 2 {
		t.Fatalf("err = %v", err)
	}
	want := "numbers_db: 1 replica unschedulable: 3 nodes fail node.labels.storage == raid, 2 nodes are not ready; " +
		"numbers_web: 1 replica unschedulable: 3 nodes have port 8080/tcp in use, 2 nodes are not ready"
	if err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	// Global services report only the nodes where they failed.
	g := svc("ops", "agent", 0, global, reserve(0, 16<<30))
	err = unschedulable(t, Input{Services: []*cluster.Service{g}, Observed: []cluster.HostObservation{host("h1"), host("h2", capacity(8, 32<<30)), host("h3", down)}})
	if err == nil || err.Error() != "ops_agent: 1 replica unschedulable: 1 node has insufficient memory" {
		t.Errorf("err = %v", err)
	}
}

func TestDependsOnOrder(t *testing.T) {
	web := svc("app", "web", 1, dependsOn("api"))
	api := svc("app", "api", 1, dependsOn("db", "cache"))
	db := svc("app", "db", 1)
	cache := svc("app", "cache", 1)
	zz := svc("app", "aaa", 1, dependsOn("web"))
	p := mustCompute(t, Input{Services: []*cluster.Service{web, zz, api, db, cache}, Observed: []cluster.HostObservation{host("h1")}})
	want := []string{"create app_cache.1@h1", "create app_db.1@h1", "create app_api.1@h1", "create app_web.1@h1", "create app_aaa.1@h1"}
	if got := changes(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	db.DependsOn = []string{"web"}
	_, err := Compute(Input{Services: []*cluster.Service{web, api, db, cache}, Observed: []cluster.HostObservation{host("h1")}})
	if err == nil || !strings.Contains(err.Error(), "cycle") || !strings.Contains(err.Error(), "app_db") {
		t.Errorf("err = %v", err)
	}
}

func TestScopeAndRemovedServices(t *testing.T) {
	web := svc("a", "web", 1)
	other := svc("b", "web", 1)
	gone := svc("a", "gone", 1)
	strayB := svc("b", "gone", 1)
	in := Input{
		Services: []*cluster.Service{web, other},
		Scope:    map[string]bool{"a": true},
		Observed: []cluster.HostObservation{host("h1", runs(rep(gone, "1", "g"), rep(strayB, "1", "s"), rep(other, "1", "o", outdated(gone))))},
	}
	p := mustCompute(t, in)
	want := []string{"remove a_gone.1@h1", "create a_web.1@h1"}
	if got := changes(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if p.Actions[0].Reason != "service removed" {
		t.Errorf("%+v", p.Actions[0])
	}
	in.Scope = nil
	want = []string{"remove a_gone.1@h1", "remove b_gone.1@h1", "create a_web.1@h1", "replace b_web.1@h1"}
	if got := changes(mustCompute(t, in)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestNetworksAndVolumes(t *testing.T) {
	web := svc("demo", "web", 2, func(s *cluster.Service) {
		s.Container.Networks = []cluster.NetworkAttachment{{Name: "demo_default"}, {Name: "shared"}, {Name: "bridge"}}
		s.Container.Mounts = []cluster.Mount{{Type: "volume", Source: "demo_data", Target: "/data"}, {Type: "volume", Target: "/anon"}, {Type: "bind", Source: "/etc", Target: "/etc"}, {Type: "volume", Source: "ext", Target: "/ext"}}
	})
	in := Input{
		Services: []*cluster.Service{web},
		Observed: []cluster.HostObservation{host("h1", networks("demo_default")), host("h2")},
		Networks: map[string]cluster.Network{"shared": {Name: "shared", External: true}},
		Volumes:  map[string]cluster.Volume{"ext": {Name: "ext", External: true}},
	}
	p := mustCompute(t, in)
	def, data := &cluster.Network{Name: "demo_default"}, &cluster.Volume{Name: "demo_data"}
	if want := []ResourceAction{{Create, "h2", "demo_default", "demo", def, nil}}; !reflect.DeepEqual(p.Networks, want) {
		t.Errorf("networks %v", p.Networks)
	}
	if want := []ResourceAction{{Create, "h1", "demo_data", "demo", nil, data}, {Create, "h2", "demo_data", "demo", nil, data}}; !reflect.DeepEqual(p.Volumes, want) {
		t.Errorf("volumes %v", p.Volumes)
	}
	if p.Changes() != 5 {
		t.Errorf("changes %d", p.Changes())
	}
}

func TestDeterminism(t *testing.T) {
	rng := newRand(7)
	for i := 0; i < 20; i++ {
		in := randomInput(rng)
		p1, err1 := Compute(in)
		// Same input, different order of services and hosts.
		shuffled := in
		shuffled.Services = append([]*cluster.Service(nil), in.Services...)
		shuffled.Observed = append([]cluster.HostObservation(nil), in.Observed...)
		rng.Shuffle(len(shuffled.Services), func(i, j int) {
			shuffled.Services[i], shuffled.Services[j] = shuffled.Services[j], shuffled.Services[i]
		})
		rng.Shuffle(len(shuffled.Observed), func(i, j int) {
			shuffled.Observed[i], shuffled.Observed[j] = shuffled.Observed[j], shuffled.Observed[i]
		})
		for run := 0; run < 3; run++ {
			p2, err2 := Compute(shuffled)
			j1, _ := json.Marshal(p1)
			j2, _ := json.Marshal(p2)
			if string(j1) != string(j2) || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
				t.Fatalf("case %d: plans differ:\n%s\n%s\n%v\n%v", i, j1, j2, err1, err2)
			}
		}
	}
}
