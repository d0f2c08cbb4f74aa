package planner

import (
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Builders for test inputs. Nodes are Ready, active linux/amd64 workers with
// 4 CPUs and 8 GiB unless a modifier says otherwise.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type hostMod func(*cluster.HostObservation)

func host(name string, mods ...hostMod) cluster.HostObservation {
	h := cluster.HostObservation{Node: cluster.Node{
		Name: name, Role: cluster.Worker, Availability: cluster.Active, Ready: true,
		OS: "linux", Arch: "amd64", CPUs: 4, MemoryBytes: 8 << 30,
	}}
	for _, m := range mods {
		m(&h)
	}
	return h
}

func label(k, v string) hostMod {
	return func(h *cluster.HostObservation) {
		if h.Node.Labels == nil {
			h.Node.Labels = map[string]string{}
		}
		h.Node.Labels[k] = v
	}
}

func avail(a cluster.Availability) hostMod {
	return func(h *cluster.HostObservation) { h.Node.Availability = a }
}

func down(h *cluster.HostObservation) {
	h.Node.Ready = false
	h.Node.Reason = "ssh: connection refused"
}

func manager(h *cluster.HostObservation) { h.Node.Role = cluster.Manager }

func arch(a string) hostMod { return func(h *cluster.HostObservation) { h.Node.Arch = a } }

func capacity(cpus int, mem int64) hostMod {
	return func(h *cluster.HostObservation) { h.Node.CPUs = cpus; h.Node.MemoryBytes = mem }
}

func runs(rs ...cluster.Replica) hostMod {
	return func(h *cluster.HostObservation) {
		for _, r := range rs {
			r.Host = h.Node.Name
			h.Replicas = append(h.Replicas, r)
		}
	}
}

func networks(names ...string) hostMod {
	return func(h *cluster.HostObservation) { h.Networks = append(h.Networks, names...) }
}

type svcMod func(*cluster.Service)

func svc(stack, name string, replicas int, mods ...svcMod) *cluster.Service {
	s := &cluster.Service{
		Stack: stack, Name: name, Generation: 1, Mode: cluster.Replicated, Replicas: replicas,
		Container: cluster.ContainerSpec{Image: name + ":v1", Restart: "always"},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func global(s *cluster.Service) { s.Mode = cluster.Global; s.Replicas = 0 }

func constraints(cs ...string) svcMod {
	return func(s *cluster.Service) { s.Placement.Constraints = cs }
}

func spread(ps ...string) svcMod { return func(s *cluster.Service) { s.Placement.Spread = ps } }

func maxPer(n int) svcMod { return func(s *cluster.Service) { s.Placement.MaxReplicasPerNode = n } }

func reserve(cpus float64, mem int64) svcMod {
	return func(s *cluster.Service) {
		s.Reservations = cluster.Resources{NanoCPUs: int64(cpus * 1e9), MemoryBytes: mem}
	}
}

func publish(port uint32) svcMod {
	return func(s *cluster.Service) {
		s.Container.Ports = append(s.Container.Ports, cluster.Port{Target: 80, Published: port, Protocol: "tcp", Mode: "host"})
	}
}

func image(img string) svcMod { return func(s *cluster.Service) { s.Container.Image = img } }

func gen(g int) svcMod { return func(s *cluster.Service) { s.Generation = g } }

func dependsOn(names ...string) svcMod { return func(s *cluster.Service) { s.DependsOn = names } }

// rep is a running, up-to-date container of s in slot, created at t0+age.
func rep(s *cluster.Service, slot, id string, mods ...func(*cluster.Replica)) cluster.Replica {
	r := cluster.Replica{
		ID: id, Name: s.FullName() + "." + slot + "." + id, Stack: s.Stack, Service: s.FullName(), Slot: slot,
		SpecHash: s.Container.Hash(), Generation: s.Generation, Image: s.Container.Image,
		State: cluster.StateRunning, Created: t0,
	}
	for _, p := range publishedPorts(&s.Container) {
		r.Ports = append(r.Ports, p)
	}
	for _, m := range mods {
		m(&r)
	}
	return r
}

func exited(code int) func(*cluster.Replica) {
	return func(r *cluster.Replica) { r.State = cluster.StateExited; r.ExitCode = code; r.Ports = nil }
}

func outdated(old *cluster.Service) func(*cluster.Replica) {
	return func(r *cluster.Replica) { r.SpecHash = old.Container.Hash(); r.Image = old.Container.Image }
}

func createdAt(d time.Duration) func(*cluster.Replica) {
	return func(r *cluster.Replica) { r.Created = t0.Add(d) }
}

// mustCompute plans in and fails the test on an error or on replicas left
// pending (planPending allows them).
func mustCompute(t testing.TB, in Input) *Plan {
	t.Helper()
	p := planPending(t, in)
	if err := p.Unschedulable(); err != nil {
		t.Fatalf("Compute left replicas pending: %v", err)
	}
	return p
}

// planPending plans in and fails the test only on an error.
func planPending(t testing.TB, in Input) *Plan {
	t.Helper()
	p, err := Compute(in)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return p
}

// unschedulable plans in and returns its pending replicas as one error, or
// nil when none are pending.
func unschedulable(t testing.TB, in Input) error {
	t.Helper()
	if ue := planPending(t, in).Unschedulable(); ue != nil {
		return ue
	}
	return nil
}

// changes lists the plan's non-keep actions as "kind service.slot@host",
// in plan order: compact and readable in test failures.
func changes(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Kind != Keep {
			out = append(out, fmt.Sprintf("%s %s.%s@%s", a.Kind, a.Service, a.Slot, a.Host))
		}
	}
	return out
}

// perHost counts, after applying p, the containers of a service per host.
func perHost(in Input, p *Plan, service string) map[string]int {
	after := apply(in, p)
	m := map[string]int{}
	for _, h := range after.Observed {
		for _, r := range h.Replicas {
			if r.Service == service {
				m[h.Node.Name]++
			}
		}
	}
	return m
}

// apply simulates the applier: it returns the input as it would be observed
// after running the plan. Created containers run and are up to date;
// networks and volumes exist.
func apply(in Input, p *Plan) Input {
	out := in
	out.Observed = make([]cluster.HostObservation, len(in.Observed))
	idx := map[string]int{}
	for i, h := range in.Observed {
		h.Replicas = append([]cluster.Replica(nil), h.Replicas...)
		h.Networks = append([]string(nil), h.Networks...)
		h.Volumes = append([]string(nil), h.Volumes...)
		out.Observed[i] = h
		idx[h.Node.Name] = i
	}
	specs := map[string]*cluster.Service{}
	for _, s := range in.Services {
		specs[s.FullName()] = s
	}
	drop := func(host, id string) {
		h := &out.Observed[idx[host]]
		for i, r := range h.Replicas {
			if r.ID == id {
				h.Replicas = append(h.Replicas[:i], h.Replicas[i+1:]...)
				return
			}
		}
		panic("apply: no container " + id + " on " + host)
	}
	seq := 0
	for _, a := range p.Actions {
		switch a.Kind {
		case Remove, Replace:
			drop(a.Old.Host, a.Old.ID)
		}
		if a.Kind != Create && a.Kind != Replace {
			continue
		}
		seq++
		s := specs[a.Service]
		id := "new" + strconv.Itoa(seq)
		r := rep(s, a.Slot, id, createdAt(time.Hour+time.Duration(seq)*time.Second))
		r.Host = a.Host
		h := &out.Observed[idx[a.Host]]
		h.Replicas = append(h.Replicas, r)
	}
	for _, r := range p.Networks {
		h := &out.Observed[idx[r.Host]]
		h.Networks = append(h.Networks, r.Name)
	}
	for _, r := range p.Volumes {
		h := &out.Observed[idx[r.Host]]
		h.Volumes = append(h.Volumes, r.Name)
	}
	return out
}

func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
