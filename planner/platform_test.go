package planner

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func platforms(ss ...string) []cluster.Platform {
	out := make([]cluster.Platform, len(ss))
	for i, s := range ss {
		p, err := cluster.ParsePlatform(s)
		if err != nil {
			panic(err)
		}
		out[i] = p
	}
	return out
}

func variant(v string) hostMod { return func(h *cluster.HostObservation) { h.Node.Variant = v } }

// hostsOf lists the hosts the plan creates replicas on, sorted.
func hostsOf(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Kind == Create {
			out = append(out, a.Host)
		}
	}
	sort.Strings(out)
	return out
}

// A mixed amd64/arm64 cluster: each replica goes only to nodes whose
// platform the image has.
func TestPlatformPlacement(t *testing.T) {
	mixed := []cluster.HostObservation{host("a1"), host("a2"), host("r1", arch("arm64")), host("r2", arch("arm64")), host("v7", arch("arm"), variant("v7"))}
	cases := []struct {
		name      string
		svc       *cluster.Service
		platforms []cluster.Platform
		hosts     []string // where replicas are created
		pending   string   // Pending reason, "" for none
		refused   string   // Pending.Platform of an unsatisfiable spec
	}{
		{name: "unknown platforms place anywhere", svc: svc("s", "web", 5, image("lab/x:v1")),
			hosts: []string{"a1", "a2", "r1", "r2", "v7"}},
		{name: "multi-platform image", svc: svc("s", "web", 4, image("lab/x:v1")), platforms: platforms("linux/amd64", "linux/arm64/v8"),
			hosts: []string{"a1", "a2", "r1", "r2"}},
		{name: "arm64 only", svc: svc("s", "web", 2, image("lab/x:v1")), platforms: platforms("linux/arm64"),
			hosts: []string{"r1", "r2"}},
		{name: "arm/v6 runs on a v7 node", svc: svc("s", "web", 1, image("lab/x:v1")), platforms: platforms("linux/arm/v6"),
			hosts: []string{"v7"}},
		{name: "arm/v8 does not run on a v7 node", svc: svc("s", "web", 1, image("lab/x:v1"), constraints("node.platform.arch==arm")), platforms: platforms("linux/arm/v8"),
			pending: "4 nodes fail node.platform.arch == arm, 1 node lacks a variant of lab/x:v1 (platforms linux/arm/v8)",
			refused: "lab/x:v1 is linux/arm/v8 only; the eligible node v7 is linux/arm/v7"},
		{name: "more replicas than arm64 nodes with a host port", svc: svc("s", "web", 3, image("lab/x:v1"), publish(8080)), platforms: platforms("linux/arm64"),
			hosts:   []string{"r1", "r2"},
			pending: "3 nodes lack a variant of lab/x:v1 (platforms linux/arm64), 2 nodes have port 8080/tcp in use"},
		{name: "global only on nodes with a variant", svc: svc("s", "agent", 0, global, image("lab/x:v1")), platforms: platforms("linux/amd64"),
			hosts: []string{"a1", "a2"}},
		{name: "global whose image no node runs", svc: svc("s", "agent", 0, global, image("lab/x:v1")), platforms: platforms("linux/ppc64le"),
			pending: "5 nodes lack a variant of lab/x:v1 (platforms linux/ppc64le)",
			refused: "lab/x:v1 is linux/ppc64le only; eligible nodes a1, a2 are linux/amd64; v7 is linux/arm/v7; r1, r2 are linux/arm64"},
		{name: "no variant for any node", svc: svc("s", "web", 2, image("lab/x:v1")), platforms: platforms("linux/s390x"),
			pending: "5 nodes lack a variant of lab/x:v1 (platforms linux/s390x)",
			refused: "lab/x:v1 is linux/s390x only; eligible nodes a1, a2 are linux/amd64; v7 is linux/arm/v7; r1, r2 are linux/arm64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := planPending(t, Input{Services: []*cluster.Service{c.svc}, Observed: mixed, ImagePlatforms: map[string][]cluster.Platform{"lab/x:v1": c.platforms}})
			if got := hostsOf(p); !reflect.DeepEqual(got, c.hosts) {
				t.Errorf("created on %v, want %v", got, c.hosts)
			}
			reason, refused := "", ""
			if len(p.Pending) > 0 {
				reason, refused = p.Pending[0].Reason, p.Pending[0].Platform
			}
			if reason != c.pending {
				t.Errorf("pending reason %q, want %q", reason, c.pending)
			}
			if refused != c.refused {
				t.Errorf("platform mismatch %q, want %q", refused, c.refused)
			}
			if got := p.Unsatisfiable() != nil; got != (c.refused != "") {
				t.Errorf("Unsatisfiable %v, want %v", p.Unsatisfiable(), c.refused != "")
			}
		})
	}
}

// The case: an arm64-only image on three amd64 nodes is refused
// with both sides' platforms named.
func TestPlatformRefusalMessage(t *testing.T) {
	web := svc("lab", "web", 3, image("lab/x:v1"))
	p := planPending(t, Input{Services: []*cluster.Service{web}, Observed: []cluster.HostObservation{host("h1"), host("h2"), host("h3")},
		ImagePlatforms: map[string][]cluster.Platform{"lab/x:v1": platforms("linux/arm64")}})
	ue := p.Unsatisfiable()
	if ue == nil {
		t.Fatalf("not unsatisfiable: %+v", p.Pending)
	}
	want := "lab_web: lab/x:v1 is linux/arm64 only; eligible nodes h1, h2, h3 are linux/amd64 (3 replicas unschedulable: 3 nodes lack a variant of lab/x:v1 (platforms linux/arm64))"
	if ue.Error() != want {
		t.Errorf("got  %s\nwant %s", ue.Error(), want)
	}
	if len(hostsOf(p)) != 0 {
		t.Errorf("creates %v", hostsOf(p))
	}
}

// A node that is down has no facts: it never makes a platform look wrong,
// so the spec stays pending instead of refused.
func TestPlatformDownNodeGivesBenefitOfDoubt(t *testing.T) {
	web := svc("lab", "web", 2, image("lab/x:v1"))
	obs := []cluster.HostObservation{host("h1"), host("h2", func(h *cluster.HostObservation) { down(h); h.Node.OS, h.Node.Arch = "", "" })}
	p := planPending(t, Input{Services: []*cluster.Service{web}, Observed: obs,
		ImagePlatforms: map[string][]cluster.Platform{"lab/x:v1": platforms("linux/arm64")}})
	if p.Unsatisfiable() != nil {
		t.Errorf("unsatisfiable with a node of unknown platform: %v", p.Unsatisfiable())
	}
	if p.PendingReplicas() != 2 || !strings.Contains(p.Pending[0].Reason, "1 node lacks a variant of lab/x:v1") {
		t.Errorf("pending %+v", p.Pending)
	}
}

func TestPlatformRuns(t *testing.T) {
	cases := []struct {
		node, img string
		want      bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/amd64", "linux/arm64", false},
		{"linux/arm64", "linux/arm64/v8", true},
		{"linux/arm/v7", "linux/arm/v6", true},
		{"linux/arm/v6", "linux/arm/v7", false},
		{"linux/arm/v7", "linux/arm", true},
		{"windows/amd64", "linux/amd64", false},
	}
	for _, c := range cases {
		n, _ := cluster.ParsePlatform(c.node)
		i, _ := cluster.ParsePlatform(c.img)
		if got := n.Runs(i); got != c.want {
			t.Errorf("%s runs %s = %v, want %v", c.node, c.img, got, c.want)
		}
	}
	n, _ := cluster.ParsePlatform("linux/arm/v7")
	if best, ok := n.BestFor(platforms("linux/arm/v5", "linux/arm/v6", "linux/arm64")); !ok || best.String() != "linux/arm/v6" {
		t.Errorf("BestFor = %v %v, want linux/arm/v6", best, ok)
	}
}

// A node runs its own copy of the image: an arm64 copy on an amd64 node
// (docker load accepts it) keeps replicas off that node although another
// node has the amd64 variant, and the reason says what to do.
func TestPlatformCopyOnTheNode(t *testing.T) {
	web := svc("lab", "web", 3, image("lab/x:v1"), maxPer(1))
	amd, arm := platforms("linux/amd64")[0], platforms("linux/arm64")[0]
	in := Input{Services: []*cluster.Service{web}, Observed: []cluster.HostObservation{host("h1"), host("h2"), host("h3")},
		ImagePlatforms:     map[string][]cluster.Platform{"lab/x:v1": {amd, arm}},
		HostImagePlatforms: map[string]map[string]cluster.Platform{"h1": {"lab/x:v1": arm}, "h2": {"lab/x:v1": amd}}}
	p := planPending(t, in)
	if got := hostsOf(p); !reflect.DeepEqual(got, []string{"h2", "h3"}) {
		t.Errorf("created on %v, want h2 and h3", got)
	}
	want := "2 nodes have reached max_replicas_per_node (1), 1 node holds lab/x:v1 built for linux/arm64 (remove it, or load the linux/amd64 variant)"
	if len(p.Pending) != 1 || p.Pending[0].Reason != want || p.Unsatisfiable() != nil {
		t.Errorf("pending %+v, want reason %q and satisfiable", p.Pending, want)
	}

	// Only wrong copies everywhere: refused, naming the copies' platform.
	in.HostImagePlatforms = map[string]map[string]cluster.Platform{"h1": {"lab/x:v1": arm}, "h2": {"lab/x:v1": arm}, "h3": {"lab/x:v1": arm}}
	in.ImagePlatforms = map[string][]cluster.Platform{"lab/x:v1": {arm}}
	ue := planPending(t, in).Unsatisfiable()
	if ue == nil || !strings.Contains(ue.Error(), "lab/x:v1 is linux/arm64 only; eligible nodes h1, h2, h3 are linux/amd64") {
		t.Errorf("Unsatisfiable = %v", ue)
	}
}
