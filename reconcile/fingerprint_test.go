package reconcile

import (
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// The fingerprint a saved plan is checked against moves with what the
// plan was made from, and only with that.
func TestFingerprint(t *testing.T) {
	world := func(edit func(hs []cluster.HostObservation) []cluster.HostObservation) *World {
		hs := []cluster.HostObservation{
			{Node: cluster.Node{Name: "h1", Ready: true}, Networks: []string{"demo_default"},
				Replicas: []cluster.Replica{{ID: "a", State: cluster.StateRunning, Health: "starting"}, {ID: "b", State: cluster.StateRunning}}},
			{Node: cluster.Node{Name: "h2", Ready: true}, Volumes: []string{"demo_data"}},
		}
		if edit != nil {
			hs = edit(hs)
		}
		return &World{Hosts: hs}
	}
	base := world(nil).Fingerprint()
	for _, tc := range []struct {
		name string
		edit func([]cluster.HostObservation) []cluster.HostObservation
		same bool
	}{
		{"health moves on by itself", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[0].Replicas[0].Health = "healthy"
			return hs
		}, true},
		{"hosts and replicas in another order", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[0].Replicas[0], hs[0].Replicas[1] = hs[0].Replicas[1], hs[0].Replicas[0]
			return []cluster.HostObservation{hs[1], hs[0]}
		}, true},
		{"a replica stopped", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[0].Replicas[1].State = cluster.StateExited
			return hs
		}, false},
		{"a replica turned unhealthy", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[0].Replicas[0].Health = "unhealthy"
			return hs
		}, false},
		{"a replica went", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[0].Replicas = hs[0].Replicas[:1]
			return hs
		}, false},
		{"a host went down", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[1].Node.Ready = false
			return hs
		}, false},
		{"a network appeared", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[1].Networks = []string{"demo_default"}
			return hs
		}, false},
		{"a volume went", func(hs []cluster.HostObservation) []cluster.HostObservation {
			hs[1].Volumes = nil
			return hs
		}, false},
	} {
		if got := world(tc.edit).Fingerprint(); (got == base) != tc.same {
			t.Errorf("%s: fingerprint same = %v, want %v", tc.name, got == base, tc.same)
		}
	}
}
