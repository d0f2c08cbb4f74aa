package engine

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/go-connections/nat"

	"github.com/drover-sh/drover/cluster"
)

// Observation is one host's docker state.
type Observation struct {
	Facts    Facts
	Replicas []cluster.Replica
	Networks []string
	Volumes  []string
	// Images maps image references ("repo:tag") to image IDs.
	Images map[string]string
	// Proxy is the container named ProxyName (the routing mesh's), nil
	// when there is none. Its start time is not listed (InspectNamed has
	// it).
	Proxy *ProxyContainer
}

// HasImage reports whether ref (as written in a compose file) is present.
func (o *Observation) HasImage(ref string) (id string, ok bool) {
	id, ok = o.Images[NormalizeRef(ref)]
	if !ok && strings.HasPrefix(ref, "sha256:") {
		for _, v := range o.Images {
			if v == ref {
				return v, true
			}
		}
	}
	return id, ok
}

// NormalizeRef writes an image reference as the engine lists it:
// docker.io/library/ and docker.io/ dropped, ":latest" added when no tag.
func NormalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/library/")
	ref = strings.TrimPrefix(ref, "docker.io/")
	if strings.Contains(ref, "@") {
		return ref
	}
	slash := strings.LastIndexByte(ref, '/')
	if !strings.Contains(ref[slash+1:], ":") {
		ref += ":latest"
	}
	return ref
}

func sortReplicas(rs []cluster.Replica) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
}

// replicaOf maps a container's inspect document onto drover's view of
// it. Any part the engine left out is simply empty.
func replicaOf(host string, c container.InspectResponse) cluster.Replica {
	r := cluster.Replica{Host: host}
	var state *container.State
	var hc *container.HostConfig
	if b := c.ContainerJSONBase; b != nil {
		r.ID, r.Name, r.ImageID, r.Restarts = b.ID, strings.TrimPrefix(b.Name, "/"), b.Image, b.RestartCount
		r.Created = parseTime(b.Created)
		state, hc = b.State, b.HostConfig
	}
	var interval time.Duration
	if cfg := c.Config; cfg != nil {
		l := cfg.Labels
		r.Stack, r.Service, r.Slot, r.SpecHash = l[cluster.LabelStack], l[cluster.LabelService], l[cluster.LabelSlot], l[cluster.LabelSpec]
		r.Generation, _ = strconv.Atoi(l[cluster.LabelGeneration])
		r.Image = cfg.Image
		if cfg.Healthcheck != nil {
			interval = cfg.Healthcheck.Interval
		}
	}
	if state != nil {
		r.State, r.ExitCode = string(state.Status), state.ExitCode
		r.StartedAt, r.FinishedAt = parseTime(state.StartedAt), parseTime(state.FinishedAt)
		if h := state.Health; h != nil {
			r.Health = string(h.Status)
			r.UnhealthySince = unhealthySince(h, interval, r.StartedAt)
			r.HealthOutput = lastFailedCheck(h)
		}
	}
	r.Runtime = runtimeOf(hc, state)
	if hc != nil {
		for port, binds := range hc.PortBindings {
			for _, b := range binds {
				if b.HostPort != "" {
					r.Ports = append(r.Ports, b.HostPort+"/"+port.Proto())
				}
			}
		}
		sort.Strings(r.Ports)
		for _, m := range hc.Mounts {
			if _, ok := cluster.ParseHostPath(clusterOf(c), m.Source); ok && m.Type == mount.TypeBind {
				r.Files = append(r.Files, m.Source)
			}
		}
		sort.Strings(r.Files)
	}
	if ns := c.NetworkSettings; ns != nil {
		r.Bindings = bindingsOf(ns.Ports)
		names := make([]string, 0, len(ns.Networks))
		for n := range ns.Networks {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if es := ns.Networks[n]; es != nil && es.IPAddress != "" {
				r.IPs = append(r.IPs, es.IPAddress)
			}
		}
	}
	return r
}

// bindingsOf lists the ports docker bound, as it runs them (ephemeral
// ones included): the routing mesh's backends.
func bindingsOf(ports nat.PortMap) []cluster.Binding {
	var out []cluster.Binding
	for port, binds := range ports {
		target := uint32(port.Int())
		if target == 0 {
			continue
		}
		for _, b := range binds {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil || hp == 0 {
				continue
			}
			out = append(out, cluster.Binding{Target: target, Protocol: port.Proto(), HostIP: b.HostIP, HostPort: uint32(hp)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		if a.HostIP != b.HostIP {
			return a.HostIP < b.HostIP
		}
		return a.HostPort < b.HostPort
	})
	return out
}

// clusterOf is the cluster a container is labelled for.
func clusterOf(c container.InspectResponse) string {
	if c.Config == nil {
		return ""
	}
	return c.Config.Labels[cluster.LabelCluster]
}

// healthLog is the engine's health log without entries it left null.
func healthLog(h *container.Health) []*container.HealthcheckResult {
	out := h.Log[:0:0]
	for _, l := range h.Log {
		if l != nil {
			out = append(out, l)
		}
	}
	return out
}

// unhealthySince is the start of the current run of failed checks.
// Docker keeps only the last five checks in the log, so a run longer than
// that (a 1 s interval fails five checks in seconds) is extended back by
// FailingStreak, the count of consecutive failures docker keeps, spaced as
// the logged checks are (interval plus the check's own time), or by the
// configured interval when the log holds a single check.
func unhealthySince(h *container.Health, interval time.Duration, started time.Time) time.Time {
	if h.Status != container.Unhealthy {
		return time.Time{}
	}
	log := healthLog(h)
	var since time.Time
	logged := 0
	for i := len(log) - 1; i >= 0 && log[i].ExitCode != 0; i-- {
		since = log[i].Start
		logged++
	}
	if since.IsZero() || h.FailingStreak <= logged {
		return since
	}
	var spacing time.Duration
	if n := len(log); n >= 2 {
		spacing = log[n-1].Start.Sub(log[0].Start) / time.Duration(n-1)
	}
	if spacing <= 0 {
		spacing = interval
	}
	if spacing <= 0 {
		spacing = 30 * time.Second // docker's default interval
	}
	since = since.Add(-time.Duration(h.FailingStreak-logged) * spacing)
	if !started.IsZero() && since.Before(started) {
		since = started
	}
	return since
}

// lastFailedCheck is the first line of what the newest failed health check
// printed (at most 200 bytes), or "" when the newest check passed.
func lastFailedCheck(h *container.Health) string {
	log := healthLog(h)
	if len(log) == 0 {
		return ""
	}
	last := log[len(log)-1]
	if last.ExitCode == 0 {
		return ""
	}
	out := strings.TrimSpace(last.Output)
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = strings.TrimSpace(out[:i])
	}
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	if out == "" {
		out = fmt.Sprintf("health check exited %d", last.ExitCode)
	}
	return out
}

func runtimeOf(hc *container.HostConfig, state *container.State) cluster.Runtime {
	var rt cluster.Runtime
	if state != nil {
		rt.Paused = state.Paused
	}
	if hc != nil {
		rt.RestartPolicy, rt.NanoCPUs, rt.MemoryBytes = string(hc.RestartPolicy.Name), hc.NanoCPUs, hc.Memory
		if rt.RestartPolicy == "on-failure" && hc.RestartPolicy.MaximumRetryCount > 0 {
			rt.RestartPolicy += ":" + strconv.Itoa(hc.RestartPolicy.MaximumRetryCount)
		}
		if hc.PidsLimit != nil && *hc.PidsLimit > 0 {
			rt.PidsLimit = *hc.PidsLimit
		}
	}
	if rt.RestartPolicy == "" {
		rt.RestartPolicy = "no"
	}
	return rt
}
