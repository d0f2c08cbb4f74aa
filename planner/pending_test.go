package planner

import (
	"reflect"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// One service that cannot be fully placed must not stop the others from
// healing: its placeable replicas and every other service are planned.
func TestPendingDoesNotBlockTheRest(t *testing.T) {
	web := svc("shop", "web", 3, publish(8088))
	api := svc("shop", "api", 3)
	hosts := []cluster.HostObservation{
		host("h1", runs(rep(web, "1", "w1"), rep(api, "1", "a1"))),
		host("h2", runs(rep(web, "2", "w2"), rep(api, "2", "a2"))),
		host("h3", down), // ran web.3 and api.3
	}
	p := planPending(t, Input{Services: []*cluster.Service{web, api}, Observed: hosts})
	if got, want := changes(p), []string{"create shop_api.3@h1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if len(p.Pending) != 1 {
		t.Fatalf("pending %+v", p.Pending)
	}
	pd := p.Pending[0]
	if pd.Service != "shop_web" || pd.Stack != "shop" || !reflect.DeepEqual(pd.Slots, []string{"3"}) || pd.Unsatisfiable {
		t.Errorf("pending %+v", pd)
	}
	if want := "2 nodes have port 8088/tcp in use, 1 node is not ready"; pd.Reason != want {
		t.Errorf("reason %q, want %q", pd.Reason, want)
	}
	if p.PendingReplicas() != 1 || p.Converged() || p.Empty() {
		t.Errorf("PendingReplicas %d Converged %v Empty %v", p.PendingReplicas(), p.Converged(), p.Empty())
	}
	if p.Unsatisfiable() != nil {
		t.Errorf("Unsatisfiable = %v", p.Unsatisfiable())
	}

	// The host comes back with its old containers: nothing pending, and
	// the surplus api replica goes.
	hosts[2] = host("h3", runs(rep(web, "3", "w3"), rep(api, "3", "a3")))
	hosts[0] = host("h1", runs(rep(web, "1", "w1"), rep(api, "1", "a1"), rep(api, "3", "a3b", createdAt(1))))
	p = planPending(t, Input{Services: []*cluster.Service{web, api}, Observed: hosts})
	if len(p.Pending) != 0 {
		t.Errorf("pending %+v", p.Pending)
	}
	if got := changes(p); len(got) != 1 || got[0] != "remove shop_api.3@h1" && got[0] != "remove shop_api.3@h3" {
		t.Errorf("changes %v, want one remove of the duplicate api.3", got)
	}
}

// Scaling a host-port service past the node count places what fits.
func TestPendingScaleWithHostPort(t *testing.T) {
	web := svc("shop", "web", 5, publish(8080))
	p := planPending(t, Input{Services: []*cluster.Service{web}, Observed: []cluster.HostObservation{host("h1"), host("h2"), host("h3")}})
	if n := len(changes(p)); n != 3 {
		t.Errorf("%d creates, want 3: %v", n, changes(p))
	}
	if len(p.Pending) != 1 || !reflect.DeepEqual(p.Pending[0].Slots, []string{"4", "5"}) || p.Pending[0].Unsatisfiable {
		t.Errorf("pending %+v", p.Pending)
	}
}

// Drain always proceeds: a replica that cannot go elsewhere is removed from
// the drained node and left pending.
func TestPendingDrainWithNowhereToGo(t *testing.T) {
	db := svc("shop", "db", 1, constraints("node.labels.storage == raid"))
	hosts := []cluster.HostObservation{host("h1"), host("h2"), host("h3", label("storage", "raid"), avail(cluster.Drain), runs(rep(db, "1", "d1")))}
	p := planPending(t, Input{Services: []*cluster.Service{db}, Observed: hosts})
	if got, want := changes(p), []string{"remove shop_db.1@h3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if len(p.Pending) != 1 || p.Pending[0].Unsatisfiable {
		t.Fatalf("pending %+v", p.Pending)
	}
	if want := "2 nodes fail node.labels.storage == raid, 1 node is drained"; p.Pending[0].Reason != want {
		t.Errorf("reason %q, want %q", p.Pending[0].Reason, want)
	}
}

// A spec no inventoried node could ever run is unsatisfiable; one that only
// down or busy nodes could run is not.
func TestUnsatisfiable(t *testing.T) {
	cases := []struct {
		name  string
		svc   *cluster.Service
		hosts []cluster.HostObservation
		never bool
	}{
		{"constraint no node matches", svc("s", "db", 1, constraints("node.labels.storage == ssd")),
			[]cluster.HostObservation{host("h1"), host("h2", label("storage", "raid"))}, true},
		{"only a down node matches", svc("s", "db", 1, constraints("node.labels.storage == ssd")),
			[]cluster.HostObservation{host("h1"), host("h2", down, label("storage", "ssd"))}, false},
		{"only a drained node matches", svc("s", "db", 1, constraints("node.labels.storage == ssd")),
			[]cluster.HostObservation{host("h1"), host("h2", avail(cluster.Drain), label("storage", "ssd"))}, false},
		{"platform of a down node is unknown", svc("s", "db", 1, constraints("node.platform.arch == arm64")),
			[]cluster.HostObservation{host("h1", arch("amd64")), host("h2", down)}, false},
		{"platform no ready node has, no node down", svc("s", "db", 1, constraints("node.platform.arch == arm64")),
			[]cluster.HostObservation{host("h1", arch("amd64")), host("h2", arch("amd64"))}, true},
		{"reservation larger than every node", svc("s", "big", 1, reserve(4, 0)),
			[]cluster.HostObservation{host("h1", capacity(2, 8<<30)), host("h2", capacity(2, 8<<30))}, true},
		{"reservation that fits an idle node", svc("s", "big", 3, reserve(1.5, 0)),
			[]cluster.HostObservation{host("h1", capacity(2, 8<<30)), host("h2", capacity(2, 8<<30))}, false},
		{"max_replicas_per_node", svc("s", "web", 4, maxPer(1)),
			[]cluster.HostObservation{host("h1"), host("h2"), host("h3")}, false},
		{"global reservation larger than its node", svc("s", "agent", 0, global, reserve(0, 16<<30)),
			[]cluster.HostObservation{host("h1"), host("h2", capacity(8, 32<<30))}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planPending(t, Input{Services: []*cluster.Service{c.svc}, Observed: c.hosts})
			if len(p.Pending) != 1 {
				t.Fatalf("pending %+v, want one service", p.Pending)
			}
			if got := p.Pending[0].Unsatisfiable; got != c.never {
				t.Errorf("Unsatisfiable = %v, want %v (%s)", got, c.never, p.Pending[0].Reason)
			}
			if (p.Unsatisfiable() != nil) != c.never {
				t.Errorf("Plan.Unsatisfiable() = %v", p.Unsatisfiable())
			}
		})
	}
}

// Pending replicas are shown in the rendered plan with their reason.
func TestRenderPending(t *testing.T) {
	web := svc("shop", "web", 4, publish(8080))
	p := planPending(t, Input{Services: []*cluster.Service{web}, Observed: []cluster.HostObservation{host("h1"), host("h2"), host("h3", down)}})
	got := p.String()
	for _, want := range []string{
		"pending (no node can take them now; every run tries again):\n  ! shop_web.3, shop_web.4  (2 nodes have port 8080/tcp in use, 1 node is not ready)\n",
		"  + create  shop_web.2  gen 1  (new replica)\n\npending (no",
		"Plan: 2 to create; 0 replicas unchanged, 2 replicas pending.\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("render lacks %q:\n%s", want, got)
		}
	}
}
