package planner

import (
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestEligible(t *testing.T) {
	nodes := []cluster.Node{
		{Name: "a", Role: cluster.Manager, OS: "linux", Arch: "amd64", Labels: map[string]string{"zone": "a"}},
		{Name: "b", Role: cluster.Worker, OS: "linux", Arch: "arm64", Labels: map[string]string{"zone": "b"}},
		{Name: "c", Role: cluster.Worker, OS: "linux", Arch: "amd64", Labels: map[string]string{"zone": "b"}},
	}
	for _, tc := range []struct {
		constraints []string
		want        string
	}{
		{nil, "abc"},
		{[]string{"node.role == worker"}, "bc"},
		{[]string{"node.labels.zone == b", "node.platform.arch == amd64"}, "c"},
		{[]string{"node.platform.arch == x86_64"}, "ac"},
	} {
		got, err := Eligible(&cluster.Service{Stack: "s", Name: "web", Placement: cluster.Placement{Constraints: tc.constraints}}, nodes)
		if err != nil {
			t.Fatal(err)
		}
		names := ""
		for _, n := range got {
			names += n.Name
		}
		if names != tc.want {
			t.Errorf("%v: %s, want %s", tc.constraints, names, tc.want)
		}
	}
	if _, err := Eligible(&cluster.Service{Placement: cluster.Placement{Constraints: []string{"node.nope ="}}}, nodes); err == nil {
		t.Error("a malformed constraint: want an error")
	}
}
