package run

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/rs/zerolog"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
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
	fakes map[string]*enginetest.API
	apis  map[string]*engine.API
	store *state.Local
	rep   *recorder
	now   time.Time
}

const (
	clusterName = "lab"
	imageV1     = "demo/web:1"
	imageV2     = "demo/web:2"
)

func newLab(t *testing.T, hosts int) *lab {
	l := &lab{t: t, fakes: map[string]*enginetest.API{}, apis: map[string]*engine.API{}, rep: &recorder{},
		now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	l.store = &state.Local{Path: filepath.Join(t.TempDir(), "drover.state.json"), TTL: time.Minute, Machine: "test"}
	for i := 1; i <= hosts; i++ {
		name := fmt.Sprintf("h%d", i)
		f := enginetest.NewAPI(system.Info{ServerVersion: "20.10.24", OSType: "linux", Architecture: "x86_64", NCPU: 4, MemTotal: 8 << 30, Name: name})
		t.Cleanup(func() { f.Close() })
		a, err := engine.NewAPI(engine.APIConfig{Host: name, Dial: f.Dial, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		for n, ref := range []string{imageV1, imageV2, "demo/db:1"} {
			f.AddImage(image.Summary{ID: fmt.Sprintf("sha256:%064d", n+1), RepoTags: []string{ref}})
		}
		l.names = append(l.names, name)
		l.fakes[name], l.apis[name] = f, a
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
		Store:   l.store,
		Cluster: clusterName,
		Hosts:   hosts,
		Connect: func(_ context.Context, host string) (*engine.Engine, error) {
			return &engine.Engine{Host: host, Cluster: clusterName, API: l.apis[host]}, nil
		},
		Parallel: 4,
		Poll:     time.Millisecond,
		Reporter: l.rep,
		Clock:    func() time.Time { return l.now },
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
	for _, c := range l.fakes[host].Calls() {
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "HEAD ") {
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
		for _, c := range l.inspectAll(h) {
			if c.Config.Labels[cluster.LabelService] == service && c.State.Running {
				n++
			}
		}
	}
	return n
}

func (l *lab) get(host, path string, v any) {
	l.t.Helper()
	rec := httptest.NewRecorder()
	l.fakes[host].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		l.t.Fatalf("%s %s: %d %s", host, path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) inspectAll(host string) []container.InspectResponse {
	var list []container.Summary
	l.get(host, "/containers/json?all=1", &list)
	var out []container.InspectResponse
	for _, s := range list {
		var c container.InspectResponse
		l.get(host, "/containers/"+s.ID+"/json", &c)
		out = append(out, c)
	}
	return out
}

// editContainer changes a container by hand, as `docker update` would.
func (l *lab) editContainer(host, id string, edit func(*container.InspectResponse)) {
	l.t.Helper()
	var c container.InspectResponse
	l.get(host, "/containers/"+id+"/json", &c)
	rec := httptest.NewRecorder()
	l.fakes[host].ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/containers/"+id, nil))
	if rec.Code != http.StatusNoContent {
		l.t.Fatalf("remove %s: %d", id, rec.Code)
	}
	edit(&c)
	raw, _ := json.Marshal(c)
	l.fakes[host].AddContainer(raw)
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
