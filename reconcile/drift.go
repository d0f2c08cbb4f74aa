package reconcile

import (
	"fmt"
	"strconv"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// DetectDrift marks replicas whose container no longer matches the spec it
// was created from although its spec label still does: changed by hand
// (docker update, docker pause) or its image tag now names another image.
func DetectDrift(w *World, services map[string]*cluster.Service) {
	for hi := range w.Hosts {
		h := &w.Hosts[hi]
		obs := w.Obs[h.Node.Name]
		for ri := range h.Replicas {
			r := &h.Replicas[ri]
			svc := services[r.Service]
			if svc == nil || r.SpecHash != svc.Container.Hash() || !r.Running() {
				continue
			}
			r.Drift = driftOf(r, &svc.Container, obs)
		}
	}
}

func driftOf(r *cluster.Replica, spec *cluster.ContainerSpec, obs *engine.Observation) []string {
	var out []string
	rt := r.Runtime
	if rt == (cluster.Runtime{}) {
		return nil // not inspected in full (e.g. a fake): nothing to compare
	}
	want := spec.Restart
	if want == "" {
		want = "no"
	}
	if rt.RestartPolicy != want {
		out = append(out, fmt.Sprintf("restart policy %s (spec: %s)", rt.RestartPolicy, want))
	}
	if rt.NanoCPUs != spec.Limits.NanoCPUs {
		out = append(out, fmt.Sprintf("cpu limit %s (spec: %s)", cpus(rt.NanoCPUs), cpus(spec.Limits.NanoCPUs)))
	}
	if rt.MemoryBytes != spec.Limits.MemoryBytes {
		out = append(out, fmt.Sprintf("memory limit %d (spec: %d)", rt.MemoryBytes, spec.Limits.MemoryBytes))
	}
	if rt.PidsLimit != spec.Limits.Pids {
		out = append(out, fmt.Sprintf("pids limit %d (spec: %d)", rt.PidsLimit, spec.Limits.Pids))
	}
	if rt.Paused {
		out = append(out, "paused")
	}
	if obs != nil && r.ImageID != "" {
		if id, ok := obs.HasImage(r.Image); ok && id != r.ImageID {
			out = append(out, "image "+r.Image+" now names another image")
		}
	}
	return out
}

func cpus(n int64) string {
	if n == 0 {
		return "none"
	}
	return strconv.FormatFloat(float64(n)/1e9, 'f', -1, 64)
}
