package run

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/internal/clock"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// A run against in-process fakes of each host's Engine API (the official
// client over net.Pipe, real paths and JSON) and a local state file.

// recorder is a Reporter that keeps what it hears.
type recorder struct {
	mu      sync.Mutex
	events  []reconcile.Event
	notices []Notice
	plans   []*planner.Plan
	applied []string
	left    []Leftover
}

func (r *recorder) Report(e reconcile.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}
func (r *recorder) Notice(n Notice)        { r.mu.Lock(); r.notices = append(r.notices, n); r.mu.Unlock() }
func (r *recorder) Plan(p *planner.Plan)   { r.mu.Lock(); r.plans = append(r.plans, p); r.mu.Unlock() }
func (r *recorder) Interrupted(l Leftover) { r.mu.Lock(); r.left = append(r.left, l); r.mu.Unlock() }
func (r *recorder) Applied(s string, serial int64) {
	r.mu.Lock()
	r.applied = append(r.applied, fmt.Sprintf("%s (serial %d)", s, serial))
	r.mu.Unlock()
}

func (r *recorder) noticed(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.notices {
		if strings.Contains(n.Message, sub) {
			return true
		}
	}
	return false
}

type lab struct {
	t     *testing.T
	names []string
	fc    *enginetest.Cluster
	fakes map[string]*enginetest.Host
	store *state.Local
	rep   *recorder
	now   time.Time // when the lab's clock starts
	// clock is the run's clock: rollouts wait on it, and it moves on by
	// what they wait, so they take no real time.
	clock *clock.Fake
}

const (
	clusterName = "lab"
	imageV1     = "demo/web:1"
	imageV2     = "demo/web:2"
)

func newLab(t *testing.T, hosts int) *lab {
	l := &lab{t: t, fc: enginetest.NewCluster(hosts), fakes: map[string]*enginetest.Host{}, rep: &recorder{},
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	l.clock = clock.NewFake(l.now)
	l.fc.Name = clusterName
	t.Cleanup(func() { l.fc.Close() })
	l.store = &state.Local{Path: filepath.Join(t.TempDir(), "drover.state.json"), TTL: time.Minute, Machine: "test"}
	for _, h := range l.fc.Hosts() {
		for _, ref := range []string{imageV1, imageV2, "demo/db:1"} {
			h.AddImage(ref)
		}
		l.names = append(l.names, h.Name)
		l.fakes[h.Name] = h
	}
	return l
}

func (l *lab) deps() Deps {
	var hosts []cluster.Host
	for i, n := range l.names {
		role := cluster.Worker
		if i == 0 {
			role = cluster.Manager
		}
		hosts = append(hosts, cluster.Host{Name: n, Address: n + ".test", Role: role})
	}
	return Deps{
		Store:    l.store,
		Cluster:  clusterName,
		Hosts:    hosts,
		Connect:  l.fc.Connect,
		Parallel: 4,
		Poll:     time.Millisecond,
		Reporter: l.rep,
		Clock:    l.clock,
		Holder:   state.LockInfo{Owner: "tester@test", Machine: "test", PID: 1},
		User:     "tester@test",
	}
}

// run executes req with the lab's deps.
func (l *lab) run(req Request) (*Result, error) {
	l.t.Helper()
	if req.Command == "" {
		req.Command = "test"
	}
	return Execute(context.Background(), l.deps(), req)
}

// changes are the requests that changed a host, in order, all hosts.
func (l *lab) changes(host string) []string {
	var out []string
	for _, c := range l.fakes[host].Requests() {
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "HEAD ") {
			c, _, _ = strings.Cut(c, "?")
			out = append(out, c)
		}
	}
	return out
}

func (l *lab) allChanges() int {
	n := 0
	for _, h := range l.names {
		n += len(l.changes(h))
	}
	return n
}

// running counts the running containers of a service on every host.
func (l *lab) running(service string) int {
	n := 0
	for _, h := range l.names {
		for _, c := range l.fakes[h].Containers() {
			if c.Labels[cluster.LabelService] == service && c.State == "running" {
				n++
			}
		}
	}
	return n
}

// inspectAll returns a host's containers as the fake holds them.
func (l *lab) inspectAll(host string) []enginetest.Container { return l.fakes[host].Containers() }

// editContainer changes a container by hand, as `docker update` would.
func (l *lab) editContainer(host, id string, edit func(*enginetest.Container)) {
	l.t.Helper()
	if !l.fakes[host].Update(id, edit) {
		l.t.Fatalf("no container %s on %s", id, host)
	}
}

func (l *lab) read() *state.State {
	l.t.Helper()
	s, err := l.store.Read(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	return s
}

// web is a replicated service of stack demo, stop-first one at a time.
func web(replicas int, img string, mods ...func(*cluster.Service)) *cluster.Service {
	pol := cluster.UpdatePolicy{Parallelism: 1, Order: "stop-first", Monitor: time.Millisecond, FailureAction: "pause"}
	s := &cluster.Service{
		Stack: "demo", Name: "web", Generation: 1, Mode: cluster.Replicated, Replicas: replicas,
		Container: cluster.ContainerSpec{Image: img, Restart: "always", Networks: []cluster.NetworkAttachment{{Name: "demo_default", Aliases: []string{"web"}}}},
		Update:    pol, Rollback: pol,
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// deploy is the Mutate of a stack deploy of services into stack demo.
func deploy(svcs ...*cluster.Service) func(s *state.State) (string, error) {
	return func(s *state.State) (string, error) {
		st, ok := s.Stacks["demo"]
		if !ok {
			st = &state.Stack{Name: "demo", Services: map[string]*state.Service{}, Networks: map[string]cluster.Network{"default": {Name: "demo_default"}}}
			s.Stacks["demo"] = st
		}
		for _, svc := range svcs {
			sv, ok := st.Services[svc.Name]
			if !ok {
				sv = &state.Service{}
				st.Services[svc.Name] = sv
			} else {
				svc.Generation = sv.NextGeneration()
			}
			sv.Push(svc, state.GenerationMeta{Generation: svc.Generation})
		}
		return "deploy demo", nil
	}
}
