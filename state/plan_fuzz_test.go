package state_test

import (
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/state"
)

// maxFuzzReplicas bounds the replica counts planned: a state may ask for a
// million replicas, which is slow to plan, not wrong.
const maxFuzzReplicas = 64

// FuzzStatePlan: a state that Decode and Validate accept can be planned
// against hosts — what every deploy and reconcile does with it — without
// panicking. Seeds are shared with FuzzStateDocument's documents.
func FuzzStatePlan(f *testing.F) {
	f.Add([]byte(`{"format":1,"lineage":"l","serial":3,"cluster":"c","stacks":{"shop":{"name":"shop","services":{"web":{
 "current":{"stack":"shop","name":"web","generation":2,"mode":"replicated","replicas":2,"container":{"image":"a:2","ports":[{"target":80,"published":8080,"protocol":"tcp","mode":"host"}]},"update_config":{"parallelism":1,"order":"start-first"}},
 "previous":[{"spec":{"stack":"shop","name":"web","generation":1,"container":{"image":"a:1"}},"meta":{"generation":1}}],
 "meta":{"generation":2,"parent":1}}}}},"history":[]}`))
	f.Add([]byte(`{"format":1,"lineage":"l","stacks":{"s":{"name":"s","services":{"g":{"current":{"stack":"s","name":"g","mode":"global","placement":{"constraints":["node.labels.zone == a"],"max_replicas_per_node":1},"reservations":{"nano_cpus":1,"memory_bytes":1}}}}}}}`))
	hosts := func() []cluster.HostObservation {
		var out []cluster.HostObservation
		for _, n := range []string{"h1", "h2", "h3"} {
			out = append(out, cluster.HostObservation{Node: cluster.Node{Name: n, Role: cluster.Worker, Availability: cluster.Active, Ready: true,
				OS: "linux", Arch: "amd64", CPUs: 2, MemoryBytes: 4 << 30, Labels: map[string]string{"zone": "a"}}})
		}
		return out
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := state.Decode(data)
		if err != nil || s.Validate("") != nil {
			return
		}
		for _, svc := range s.Services() {
			if svc.Replicas > maxFuzzReplicas {
				return
			}
		}
		planner.Compute(planner.Input{Services: s.Services(), Observed: hosts(), Specs: s.Specs(), Now: time.Unix(1e9, 0)})
	})
}
