package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/planner"
)

// Observe → planner.Compute → Apply against fake docker hosts.

// recorder collects events; on, when set, sees each one after it is
// recorded (from the reporting goroutine).
type recorder struct {
	mu     sync.Mutex
	events []Event
	on     func(Event)
}

func (r *recorder) Report(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	on := r.on
	r.mu.Unlock()
	if on != nil {
		on(e)
	}
}

func (r *recorder) of(kind EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

type harness struct {
	t   testing.TB
	fc  *enginetest.Cluster
	c   *Cluster
	rec *recorder
	ids atomic.Int64
}

func newHarness(t testing.TB, hosts int) *harness {
	h := &harness{t: t, fc: enginetest.NewCluster(hosts), rec: &recorder{}}
	h.c = &Cluster{Nodes: h.fc.Nodes(), Connect: h.fc.Connect, Parallel: 8, Report: h.rec}
	t.Cleanup(func() { h.fc.Close() })
	return h
}

func (h *harness) newID() string { return fmt.Sprintf("id%04d", h.ids.Add(1)) }

func (h *harness) opts() ApplyOptions {
	return ApplyOptions{Poll: 2 * time.Millisecond, NewID: h.newID}
}

// svc is a replicated service of stack demo on network demo_default,
// updated one replica at a time, stop-first, with a short monitor.
func svc(name string, replicas int, image string, mods ...func(*cluster.Service)) *cluster.Service {
	pol := cluster.UpdatePolicy{Parallelism: 1, Order: "stop-first", Monitor: 20 * time.Millisecond, FailureAction: "pause"}
	s := &cluster.Service{
		Stack: "demo", Name: name, Generation: 1, Mode: cluster.Replicated, Replicas: replicas,
		Container: cluster.ContainerSpec{Image: image, Restart: "always", Networks: []cluster.NetworkAttachment{{Name: "demo_default", Aliases: []string{name}}}},
		Update:    pol, Rollback: pol,
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// next returns the service's next generation with another image.
func next(s *cluster.Service, image string, mods ...func(*cluster.Service)) *cluster.Service {
	n := *s
	n.Container.Image = image
	n.Generation = s.Generation + 1
	for _, m := range mods {
		m(&n)
	}
	return &n
}

func withHealthcheck(s *cluster.Service) {
	s.Container.Healthcheck = &cluster.Healthcheck{Test: []string{"CMD", "/app", "-check"}, Interval: time.Second, Timeout: time.Second, Retries: 3}
}

func desired(svcs []*cluster.Service, prev map[string]*cluster.Service) Desired {
	d := Desired{Services: map[string]*cluster.Service{}, Previous: prev, Networks: map[string]cluster.Network{}, Volumes: map[string]cluster.Volume{}}
	if d.Previous == nil {
		d.Previous = map[string]*cluster.Service{}
	}
	for _, s := range svcs {
		d.Services[s.FullName()] = s
		for _, n := range s.Container.Networks {
			d.Networks[n.Name] = cluster.Network{Name: n.Name}
		}
		for _, m := range s.Container.Mounts {
			if m.Type == "volume" {
				d.Volumes[m.Source] = cluster.Volume{Name: m.Source}
			}
		}
	}
	return d
}

func (h *harness) plan(w *World, svcs []*cluster.Service, prev map[string]*cluster.Service) (*planner.Plan, Desired) {
	h.t.Helper()
	d := desired(svcs, prev)
	specs := map[string]cluster.ContainerSpec{}
	for _, s := range svcs {
		specs[s.Container.Hash()] = s.Container
	}
	for _, s := range prev {
		specs[s.Container.Hash()] = s.Container
	}
	p, err := planner.Compute(planner.Input{Services: svcs, Previous: prev, Observed: w.Hosts, Specs: specs, Networks: d.Networks, Volumes: d.Volumes, Now: time.Now()})
	if err != nil {
		h.t.Fatalf("Compute: %v", err)
	}
	return p, d
}

// run observes, plans and applies.
func (h *harness) run(ctx context.Context, svcs []*cluster.Service, prev map[string]*cluster.Service, opt ApplyOptions) (*planner.Plan, *Result, error) {
	h.t.Helper()
	w := h.c.Observe(ctx)
	p, _ := h.plan(w, svcs, prev)
	res, err := h.c.Apply(ctx, p, w, opt)
	return p, res, err
}

// deploy runs and requires success.
func (h *harness) deploy(svcs ...*cluster.Service) *Result {
	h.t.Helper()
	_, res, err := h.run(context.Background(), svcs, nil, h.opts())
	if err != nil {
		h.t.Fatalf("deploy: %v", err)
	}
	return res
}

// converged requires that a new plan is empty.
func (h *harness) converged(svcs []*cluster.Service) {
	h.t.Helper()
	p, _ := h.plan(h.c.Observe(context.Background()), svcs, nil)
	if !p.Empty() {
		var out []string
		for _, a := range p.Actions {
			if a.Kind != planner.Keep {
				out = append(out, fmt.Sprintf("%s %s.%s@%s (%s)", a.Kind, a.Service, a.Slot, a.Host, a.Reason))
			}
		}
		h.t.Fatalf("not converged: %d changes: %q networks %v volumes %v", p.Changes(), out, p.Networks, p.Volumes)
	}
}

// slots maps each slot of a service to its containers across the hosts.
func (h *harness) slots(service string) map[string][]enginetest.Container {
	out := map[string][]enginetest.Container{}
	for _, host := range h.fc.Hosts() {
		for _, c := range host.Containers() {
			if c.Labels[cluster.LabelService] == service {
				out[c.Labels[cluster.LabelSlot]] = append(out[c.Labels[cluster.LabelSlot]], c)
			}
		}
	}
	return out
}

// one returns the only container of a slot.
func (h *harness) one(service, slot string) enginetest.Container {
	h.t.Helper()
	cs := h.slots(service)[slot]
	if len(cs) != 1 {
		h.t.Fatalf("%s slot %s has %d containers", service, slot, len(cs))
	}
	return cs[0]
}

func slotOf(name string) string {
	parts := strings.Split(name, ".")
	if len(parts) < 3 {
		return ""
	}
	return parts[1]
}

// step is a container mutation of the journal: "create 3", "rm 3", …
type step struct {
	seq  int
	verb string // create | start | stop | rm
	slot string
	name string
}

func (h *harness) steps(service string) []step {
	var out []step
	for _, m := range h.fc.Log() {
		if !strings.HasPrefix(m.Container, service+".") {
			continue
		}
		switch m.Args[0] {
		case "create", "start", "stop", "rm":
			out = append(out, step{m.Seq, m.Args[0], slotOf(m.Container), m.Container})
		}
	}
	return out
}

func TestDeployFromEmptyConverges(t *testing.T) {
	h := newHarness(t, 3)
	h.fc.Registry.Add("web:v1")
	h.fc.Registry.Add("db:v1")
	web := svc("web", 5, "web:v1")
	db := svc("db", 1, "db:v1", func(s *cluster.Service) {
		s.Container.Mounts = []cluster.Mount{{Type: "volume", Source: "demo_data", Target: "/data"}}
		s.Container.Env = map[string]string{"POSTGRES_PASSWORD": "hunter2"}
	})
	svcs := []*cluster.Service{db, web}
	p, res, err := h.run(context.Background(), svcs, nil, h.opts())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed() || res.Volumes != 1 || res.Networks != 3 {
		t.Errorf("result %+v", res)
	}
	created := 0
	for _, o := range res.Services {
		created += o.Created
		if o.State != "completed" {
			t.Errorf("outcome %+v", o)
		}
	}
	if created != 6 {
		t.Errorf("%d created, want 6", created)
	}
	// Every create of the plan is a running container on its host, with
	// the plan's spec hash.
	total := 0
	for _, a := range p.Actions {
		if a.Kind != planner.Create {
			t.Errorf("from empty, the plan only creates: %+v", a)
			continue
		}
		c := h.one(a.Service, a.Slot)
		host := h.fc.Host(a.Host)
		if _, ok := host.Container(c.ID); !ok {
			t.Errorf("%s.%s is not on %s", a.Service, a.Slot, a.Host)
		}
		if c.State != "running" || c.Labels[cluster.LabelSpec] != a.SpecHash || c.Labels[cluster.LabelGeneration] != "1" {
			t.Errorf("%s: %+v", c.Name, c)
		}
		total++
	}
	n := 0
	for _, host := range h.fc.Hosts() {
		n += len(host.Containers())
		for _, m := range host.Streams() {
			for _, a := range m {
				if strings.Contains(a, "hunter2") {
					t.Errorf("%s: env value on a command line", host.Name)
				}
			}
		}
		for _, r := range host.Requests() {
			if strings.Contains(r, "hunter2") {
				t.Errorf("%s: env value in a request line: %s", host.Name, r)
			}
		}
	}
	if n != 6 || total != 6 {
		t.Errorf("%d containers on the hosts, %d in the plan", n, total)
	}
	if pulls := h.rec.of(EventPull); len(pulls) == 0 {
		t.Error("images only in the registry were not pulled")
	}
	h.converged(svcs)
}

// TestObserveRequestsPerHost: observing a host costs one request per
// list (info, containers, networks, volumes, images) and one inspect per
// container of the cluster, over the stream the run already has open.
func TestObserveRequestsPerHost(t *testing.T) {
	h := newHarness(t, 5)
	h.fc.AddImage("web:v1")
	h.deploy(svc("web", 7, "web:v1"))
	h.fc.Host("h4").SetDown(true)
	h.fc.ResetCounters()
	w := h.c.Observe(context.Background())
	for _, host := range h.fc.Hosts() {
		want := 5 + len(host.Containers())
		if host.Name == "h4" {
			want = 0 // the dial fails
		}
		if host.Calls() != want {
			t.Errorf("%s: %d requests, want %d: %q", host.Name, host.Calls(), want, host.Requests())
		}
		if s := host.Streams(); host.Name != "h4" && len(s) != 0 {
			t.Errorf("%s: observe opened %d new streams", host.Name, len(s))
		}
	}
	if got := w.Ready(); strings.Join(got, ",") != "h1,h2,h3,h5" {
		t.Errorf("ready %q", got)
	}
	if w.Hosts[3].Node.Reason != "connection refused" || w.Errors["h4"] == nil {
		t.Errorf("h4: %+v %v", w.Hosts[3].Node, w.Errors["h4"])
	}
	if w.Hosts[0].Node.EngineVersion != "27.3.1" || w.Hosts[0].Node.Arch != "amd64" || w.Hosts[0].Node.CPUs != 4 {
		t.Errorf("facts %+v", w.Hosts[0].Node)
	}
	if len(h.rec.of(EventHostDown)) != 1 {
		t.Errorf("host-down events %+v", h.rec.of(EventHostDown))
	}
	if n := len(w.Replicas()); n != 7-len(h.slotsOn("h4")) {
		t.Errorf("%d replicas observed", n)
	}
}

func (h *harness) slotsOn(host string) []enginetest.Container { return h.fc.Host(host).Containers() }

func TestMissingImageChangesNothing(t *testing.T) {
	h := newHarness(t, 3)
	h.fc.AddImage("web:v1")
	web := svc("web", 3, "web:v1")
	h.deploy(web)
	before := map[string]string{}
	for _, host := range h.fc.Hosts() {
		before[host.Name] = host.Snapshot()
	}
	h.fc.ResetCounters()
	h.fc.Registry.Add("api:v1") // another tag of api exists; api:v2 does not
	web2 := next(web, "web:v2")
	api := svc("api", 2, "api:v2", func(s *cluster.Service) {
		s.Container.Networks = []cluster.NetworkAttachment{{Name: "demo_api"}}
	})
	_, _, err := h.run(context.Background(), []*cluster.Service{web2, api}, nil, h.opts())
	if err == nil {
		t.Fatal("apply succeeded without the images")
	}
	var pre *PreflightError
	var missing *ImageMissingError
	if !errors.As(err, &pre) || !errors.As(err, &missing) || missing.Err == nil || !strings.HasSuffix(missing.Image, ":v2") {
		t.Errorf("not a PreflightError wrapping an ImageMissingError with its pull's cause: %#v", err)
	}
	msg := err.Error()
	for _, want := range []string{"nothing was changed", "web:v2", "api:v2", "drover image push web:v2", "drover image push api:v2", "h1", "h2", "h3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	for _, host := range h.fc.Hosts() {
		if m := host.Mutations(); len(m) != 0 {
			t.Errorf("%s changed: %q", host.Name, m)
		}
		if s := host.Snapshot(); s != before[host.Name] {
			t.Errorf("%s state changed:\n%s\nwas\n%s", host.Name, s, before[host.Name])
		}
	}
}

// TestMissingImageMessageNamesTheCause: a missing tag is reported as what
// it is, not as a missing docker.
func TestMissingImageMessageNamesTheCause(t *testing.T) {
	h := newHarness(t, 1)
	h.fc.Registry.Add("web:v1")
	_, _, err := h.run(context.Background(), []*cluster.Service{svc("web", 1, "web:v9")}, nil, h.opts())
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "docker not installed") {
		t.Errorf("a missing tag is reported as a missing docker:\n%v", err)
	}
}

// batchOrder checks that the steps of each batch of `per` slots (slots
// 1..per, then per+1..2per, …) all happen before any step of the next.
func batchOrder(t *testing.T, steps []step, per int) {
	t.Helper()
	last := map[int]int{}
	first := map[int]int{}
	for _, s := range steps {
		var n int
		fmt.Sscan(s.slot, &n)
		b := (n - 1) / per
		if f, ok := first[b]; !ok || s.seq < f {
			first[b] = s.seq
		}
		last[b] = max(last[b], s.seq)
	}
	for b := 1; b < len(first); b++ {
		if first[b] < last[b-1] {
			t.Errorf("batch %d started (step %d) before batch %d ended (step %d): %+v", b+1, first[b], b, last[b-1], steps)
		}
	}
}

func TestRollingUpdateBatches(t *testing.T) {
	for _, order := range cluster.UpdateOrders() {
		t.Run(string(order), func(t *testing.T) {
			h := newHarness(t, 3)
			h.fc.AddImage("web:v1")
			h.fc.AddImage("web:v2")
			web := svc("web", 6, "web:v1")
			h.deploy(web)
			old := map[string]string{}
			for slot, cs := range h.slots("demo_web") {
				old[slot] = cs[0].Name
			}
			h.fc.ResetCounters()
			web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.Parallelism = 2; s.Update.Order = order })
			_, res, err := h.run(context.Background(), []*cluster.Service{web2}, nil, h.opts())
			if err != nil {
				t.Fatal(err)
			}
			if o := res.Services[0]; o.Replaced != 6 || o.State != "completed" {
				t.Errorf("outcome %+v", o)
			}
			steps := h.steps("demo_web")
			batchOrder(t, steps, 2)
			// Per slot: the old container's removal and the new one's
			// start, in the policy's order.
			for slot, oldName := range old {
				var rmOld, startNew int
				for _, s := range steps {
					switch {
					case s.verb == "rm" && s.name == oldName:
						rmOld = s.seq
					case s.verb == "start" && s.slot == slot && s.name != oldName:
						startNew = s.seq
					}
				}
				if rmOld == 0 || startNew == 0 {
					t.Fatalf("slot %s: steps %+v", slot, steps)
				}
				if order == "stop-first" && rmOld > startNew || order == "start-first" && startNew > rmOld {
					t.Errorf("%s, slot %s: old removed at step %d, new started at step %d", order, slot, rmOld, startNew)
				}
			}
			if n := len(h.rec.of(EventBatch)); n != 3 {
				t.Errorf("%d batches, want 3", n)
			}
			for slot := range old {
				if c := h.one("demo_web", slot); c.Labels[cluster.LabelSpec] != web2.Container.Hash() {
					t.Errorf("slot %s still on %s", slot, c.Image)
				}
			}
			h.converged([]*cluster.Service{web2})
		})
	}
}

// Two replicas cannot publish one host port on one host: start-first
// falls back to stop-first, with a warning.
func TestStartFirstWithHostPortFallsBack(t *testing.T) {
	h := newHarness(t, 3)
	h.fc.AddImage("web:v1")
	h.fc.AddImage("web:v2")
	publish := func(s *cluster.Service) {
		s.Container.Ports = []cluster.Port{{Target: 80, Published: 8080, Protocol: "tcp", Mode: "host"}}
	}
	web := svc("web", 3, "web:v1", publish)
	h.deploy(web)
	old := map[string]string{}
	for slot, cs := range h.slots("demo_web") {
		old[slot] = cs[0].Name
	}
	h.fc.ResetCounters()
	web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.Order = "start-first" })
	if _, _, err := h.run(context.Background(), []*cluster.Service{web2}, nil, h.opts()); err != nil {
		t.Fatal(err)
	}
	warned := false
	for _, e := range h.rec.of(EventWarning) {
		warned = warned || strings.Contains(e.Message, "start-first")
	}
	if !warned {
		t.Error("no warning about the fallback")
	}
	steps := h.steps("demo_web")
	for slot, oldName := range old {
		var rmOld, createNew int
		for _, s := range steps {
			if s.verb == "rm" && s.name == oldName {
				rmOld = s.seq
			}
			if s.verb == "create" && s.slot == slot {
				createNew = s.seq
			}
		}
		if rmOld == 0 || createNew < rmOld {
			t.Errorf("slot %s: new created at step %d, old removed at step %d", slot, createNew, rmOld)
		}
	}
	h.converged([]*cluster.Service{web2})
}

// failureSetup deploys 4 healthy replicas of web:v1 and returns them by
// slot; web:v2 turns unhealthy from the batch given on (1-based).
func failureSetup(t *testing.T, badFrom int) (*harness, *cluster.Service, map[string]enginetest.Container) {
	h := newHarness(t, 2)
	h.fc.AddImage("web:v1")
	h.fc.AddImage("web:v2")
	web := svc("web", 4, "web:v1", withHealthcheck)
	h.deploy(web)
	before := map[string]enginetest.Container{}
	for _, slot := range []string{"1", "2", "3", "4"} {
		before[slot] = h.one("demo_web", slot)
	}
	h.rec.on = func(e Event) {
		if e.Kind == EventBatch && strings.HasPrefix(e.Message, fmt.Sprintf("batch %d of ", badFrom)) && strings.Contains(e.Message, ": 1 replica(s), stop-first, ") {
			h.fc.SetBehaviour("web:v2", enginetest.ImageBehaviour{Health: "unhealthy"})
		}
	}
	return h, web, before
}

func TestFailureActionPause(t *testing.T) {
	h, web, before := failureSetup(t, 3)
	web2 := next(web, "web:v2")
	_, res, err := h.run(context.Background(), []*cluster.Service{web2}, nil, h.opts())
	var ue *UpdateError
	if !errors.As(err, &ue) || ue.State != "paused" || !strings.Contains(ue.Reason, "unhealthy") {
		t.Fatalf("err %v", err)
	}
	// The cause unwraps: which replica failed, where, how.
	var rf *ReplicaFailedError
	if !errors.As(err, &rf) || rf.Failure != ReplicaUnhealthy || rf.Host == "" || !strings.HasPrefix(rf.Replica, "demo_web.3.") {
		t.Errorf("cause %#v of %v", rf, err)
	}
	if o := res.Services[0]; o.State != "paused" || o.Replaced != 2 {
		t.Errorf("outcome %+v", o)
	}
	for slot, wantHash := range map[string]string{"1": web2.Container.Hash(), "2": web2.Container.Hash(), "3": web2.Container.Hash()} {
		if c := h.one("demo_web", slot); c.Labels[cluster.LabelSpec] != wantHash {
			t.Errorf("slot %s: %s", slot, c.Image)
		}
	}
	if c := h.one("demo_web", "3"); c.Health != "unhealthy" {
		t.Errorf("the failed replica stays for inspection: %+v", c)
	}
	if c := h.one("demo_web", "4"); c.ID != before["4"].ID || c.State != "running" {
		t.Errorf("slot 4 was touched: %+v", c)
	}
}

func TestFailureActionRollback(t *testing.T) {
	h, web, before := failureSetup(t, 3)
	web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.FailureAction = "rollback" })
	_, res, err := h.run(context.Background(), []*cluster.Service{web2}, map[string]*cluster.Service{web2.FullName(): web}, h.opts())
	var ue *UpdateError
	if !errors.As(err, &ue) || ue.State != cluster.UpdateRollbackCompleted {
		t.Fatalf("err %v", err)
	}
	if rf := (*ReplicaFailedError)(nil); !errors.As(err, &rf) || rf.Failure != ReplicaUnhealthy {
		t.Errorf("the rolled-back update's cause does not unwrap: %v", err)
	}
	if o := res.Services[0]; o.State != "rollback_completed" || o.RolledBack != 3 {
		t.Errorf("outcome %+v", o)
	}
	for _, slot := range []string{"1", "2", "3", "4"} {
		c := h.one("demo_web", slot)
		if c.Labels[cluster.LabelSpec] != web.Container.Hash() || c.Labels[cluster.LabelGeneration] != "1" || c.State != "running" {
			t.Errorf("slot %s after rollback: %s gen %s %s", slot, c.Image, c.Labels[cluster.LabelGeneration], c.State)
		}
	}
	if c := h.one("demo_web", "4"); c.ID != before["4"].ID {
		t.Errorf("slot 4 was never replaced, so it must be the same container")
	}
	h.converged([]*cluster.Service{web})
}

func TestFailureActionContinue(t *testing.T) {
	h, web, _ := failureSetup(t, 1)
	web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.FailureAction = "continue" })
	_, res, err := h.run(context.Background(), []*cluster.Service{web2}, nil, h.opts())
	var ue *UpdateError
	if !errors.As(err, &ue) || ue.State != "failed" {
		t.Errorf("err %v", err)
	}
	if o := res.Services[0]; !strings.Contains(o.Reason, "4 replica(s) failed") {
		t.Errorf("outcome %+v", o)
	}
	for _, slot := range []string{"1", "2", "3", "4"} {
		if c := h.one("demo_web", slot); c.Labels[cluster.LabelSpec] != web2.Container.Hash() {
			t.Errorf("slot %s not replaced: %s", slot, c.Image)
		}
	}
}

func TestUpdateTimeout(t *testing.T) {
	cases := map[string]struct {
		mod   func(*cluster.Service)
		want  string
		cause func(error) bool
	}{
		// The healthcheck would allow hours; update_timeout ends it.
		"update_timeout": {func(s *cluster.Service) {
			s.UpdateTimeout = 150 * time.Millisecond
			s.Container.Healthcheck.Interval = time.Hour
		}, "update_timeout", func(err error) bool {
			var te *UpdateTimeoutError
			return errors.As(err, &te) && errors.Is(err, context.DeadlineExceeded)
		}},
		// start_period + retries × (interval + timeout) ends it.
		"health limit": {func(s *cluster.Service) {
			s.Container.Healthcheck = &cluster.Healthcheck{Test: []string{"CMD", "true"}, Interval: 20 * time.Millisecond, Timeout: 20 * time.Millisecond, Retries: 2}
		}, "did not become healthy within 80ms", func(err error) bool {
			var rf *ReplicaFailedError
			return errors.As(err, &rf) && rf.Failure == ReplicaNotHealthy && rf.Limit == 80*time.Millisecond && !errors.Is(err, context.DeadlineExceeded)
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 2)
			h.fc.AddImage("web:v1")
			h.fc.AddImage("web:v2")
			h.fc.SetBehaviour("web:v2", enginetest.ImageBehaviour{Health: "starting"})
			web := svc("web", 2, "web:v1", withHealthcheck)
			h.deploy(web)
			web2 := next(web, "web:v2", c.mod)
			begin := time.Now()
			_, _, err := h.run(context.Background(), []*cluster.Service{web2}, nil, h.opts())
			took := time.Since(begin)
			var ue *UpdateError
			if !errors.As(err, &ue) || ue.State != "paused" || !strings.Contains(ue.Reason, c.want) {
				t.Errorf("err %v, want a paused update mentioning %q", err, c.want)
			}
			if !c.cause(err) {
				t.Errorf("the cause of %v does not unwrap", err)
			}
			if took > 2*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}
}

func TestDependsOnOrdersCreates(t *testing.T) {
	h := newHarness(t, 3)
	h.fc.AddImage("db:v1")
	h.fc.AddImage("api:v1")
	h.fc.AddImage("web:v1")
	db := svc("db", 2, "db:v1")
	api := svc("api", 3, "api:v1", func(s *cluster.Service) { s.DependsOn = []string{"db"} })
	web := svc("web", 2, "web:v1", func(s *cluster.Service) { s.DependsOn = []string{"api"} })
	h.deploy(web, api, db)
	last := func(service string) (first, last int) {
		for _, s := range h.steps(service) {
			if first == 0 {
				first = s.seq
			}
			last = s.seq
		}
		return
	}
	_, dbLast := last("demo_db")
	apiFirst, apiLast := last("demo_api")
	webFirst, _ := last("demo_web")
	if apiFirst < dbLast || webFirst < apiLast || dbLast == 0 {
		t.Errorf("db ends at step %d, api runs %d..%d, web starts at %d", dbLast, apiFirst, apiLast, webFirst)
	}
}

func TestCancelMidApply(t *testing.T) {
	t.Run("during health wait", func(t *testing.T) {
		h := newHarness(t, 2)
		h.fc.AddImage("web:v1")
		h.fc.AddImage("web:v2")
		web := svc("web", 4, "web:v1")
		h.deploy(web)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.rec.on = func(e Event) {
			if e.Kind == EventReplica {
				cancel() // the first new replica is being watched
			}
		}
		web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.Monitor = time.Minute })
		begin := time.Now()
		_, res, err := h.run(ctx, []*cluster.Service{web2}, nil, h.opts())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v", err)
		}
		if took := time.Since(begin); took > time.Second {
			t.Errorf("took %s", took)
		}
		if len(res.Services) == 1 && res.Services[0].Reason != "interrupted" {
			t.Errorf("outcome %+v", res.Services[0])
		}
	})
	t.Run("during creates", func(t *testing.T) {
		h := newHarness(t, 3)
		h.fc.AddImage("web:v1")
		for _, host := range h.fc.Hosts() {
			host.Latency = 5 * time.Millisecond
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h.rec.on = func(e Event) {
			if e.Kind == EventActionDone && e.Action == planner.Create {
				cancel()
			}
		}
		h.c.Parallel = 2
		begin := time.Now()
		_, res, err := h.run(ctx, []*cluster.Service{svc("web", 30, "web:v1")}, nil, h.opts())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v", err)
		}
		if took := time.Since(begin); took > time.Second {
			t.Errorf("took %s", took)
		}
		if n := res.Services[0].Created; n >= 30 {
			t.Errorf("%d created: the cancel did not stop the run", n)
		}
	})
	t.Run("during batch delay", func(t *testing.T) {
		h := newHarness(t, 3)
		h.fc.AddImage("web:v1")
		h.fc.AddImage("web:v2")
		web := svc("web", 3, "web:v1")
		h.deploy(web)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var once sync.Once
		h.rec.on = func(e Event) {
			if e.Kind == EventReplica && strings.HasPrefix(e.Message, "running") {
				// Batch 1 passes at once (monitor 0); by then the run
				// sleeps in the delay.
				once.Do(func() { time.AfterFunc(50*time.Millisecond, cancel) })
			}
		}
		web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.Delay = time.Minute; s.Update.Monitor = 0 })
		begin := time.Now()
		_, res, err := h.run(ctx, []*cluster.Service{web2}, nil, h.opts())
		if took := time.Since(begin); took > time.Second {
			t.Errorf("took %s", took)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Apply returned %v after being cancelled in the delay between batches (outcome %+v)", err, res.Services)
		}
	})
}

// update_timeout expiring in the delay between batches is a failed
// update, not a completed one.
func TestUpdateTimeoutDuringDelay(t *testing.T) {
	h := newHarness(t, 3)
	h.fc.AddImage("web:v1")
	h.fc.AddImage("web:v2")
	web := svc("web", 3, "web:v1")
	h.deploy(web)
	web2 := next(web, "web:v2", func(s *cluster.Service) {
		s.Update.Delay = time.Minute
		s.Update.Monitor = 0
		s.UpdateTimeout = 100 * time.Millisecond
	})
	_, res, err := h.run(context.Background(), []*cluster.Service{web2}, nil, h.opts())
	var ue *UpdateError
	if !errors.As(err, &ue) {
		t.Errorf("Apply returned %v with %d of 3 replicas replaced; outcome %+v", err, res.Services[0].Replaced, res.Services[0])
	}
}

// A container that was created but failed to start is removed again.
func TestFailedStartLeavesNoContainer(t *testing.T) {
	h := newHarness(t, 1)
	h.fc.AddImage("web:v1")
	h.fc.Host("h1").FailNext("/start")
	_, res, err := h.run(context.Background(), []*cluster.Service{svc("web", 2, "web:v1")}, nil, h.opts())
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("err %v", err)
	}
	if o := res.Services[0]; o.Created != 1 || o.State != "failed" {
		t.Errorf("outcome %+v", o)
	}
	cs := h.fc.Host("h1").Containers()
	if len(cs) != 1 || cs[0].State != "running" {
		t.Errorf("containers %+v", cs)
	}
	// The next run completes the service.
	h.deploy(svc("web", 2, "web:v1"))
	h.converged([]*cluster.Service{svc("web", 2, "web:v1")})
}

// Replicas that are not running are recreated without the rolling update.
func TestExitedReplicasAreRecreated(t *testing.T) {
	h := newHarness(t, 2)
	h.fc.AddImage("web:v1")
	web := svc("web", 2, "web:v1")
	h.deploy(web)
	c := h.one("demo_web", "1")
	h.fc.Host(strings.TrimSpace(hostOf(h, c.ID))).Update(c.ID, func(c *enginetest.Container) { c.State, c.ExitCode = "exited", 137 })
	_, res, err := h.run(context.Background(), []*cluster.Service{web}, nil, h.opts())
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Services[0]; o.Replaced != 1 {
		t.Errorf("outcome %+v", o)
	}
	if len(h.rec.of(EventBatch)) != 0 {
		t.Error("a dead replica went through the rolling update")
	}
	h.converged([]*cluster.Service{web})
}

func hostOf(h *harness, id string) string {
	for _, host := range h.fc.Hosts() {
		if _, ok := host.Container(id); ok {
			return host.Name
		}
	}
	return ""
}

// The fake reports what a container runs with, so a fresh deploy has no
// drift.
func TestNoDriftAfterDeploy(t *testing.T) {
	h := newHarness(t, 2)
	h.fc.AddImage("web:v1")
	web := svc("web", 2, "web:v1", func(s *cluster.Service) {
		s.Container.Limits = cluster.Resources{NanoCPUs: 500_000_000, MemoryBytes: 64 << 20, Pids: 100}
		s.Container.Restart = "on-failure:3"
	})
	h.deploy(web)
	w := h.c.Observe(context.Background())
	for _, r := range w.Replicas() {
		if r.Runtime.NanoCPUs != 500_000_000 || r.Runtime.MemoryBytes != 64<<20 || r.Runtime.PidsLimit != 100 || r.Runtime.RestartPolicy != "on-failure:3" {
			t.Errorf("%s runtime %+v", r.Name, r.Runtime)
		}
	}
	names := []string{}
	for _, r := range w.Replicas() {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	if len(names) != 2 {
		t.Errorf("replicas %q", names)
	}
}

// TestStuckDaemonIsDownOthersProceed: a host whose dockerd accepts the
// requests and never answers is Down after the read timeout, with that reason; the
// deploy places its replicas on the other hosts.
func TestStuckDaemonIsDownOthersProceed(t *testing.T) {
	h := newHarness(t, 3)
	h.fc.AddImage("web:v1")
	h.fc.Timeouts = engine.Timeouts{Read: 50 * time.Millisecond}
	h.fc.Host("h2").SetDaemonStuck(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := h.c.Observe(ctx)
	if got := w.Ready(); strings.Join(got, ",") != "h1,h3" {
		t.Fatalf("ready %q", got)
	}
	if r := w.Hosts[1].Node.Reason; r != "docker did not answer within 50ms" {
		t.Errorf("h2 reason %q", r)
	}
	h.deploy(svc("web", 4, "web:v1"))
	if n := len(h.fc.Host("h2").Containers()); n != 0 {
		t.Errorf("%d containers on the stuck host", n)
	}
	if n := len(h.fc.Host("h1").Containers()) + len(h.fc.Host("h3").Containers()); n != 4 {
		t.Errorf("%d replicas on the healthy hosts, want 4", n)
	}
}

// meshRecorder is a routing mesh that records when it is told.
type meshRecorder struct {
	started chan struct{}
}

func (m *meshRecorder) BeforeStop(context.Context, *cluster.Replica) {}
func (m *meshRecorder) ExtraHosts(*cluster.Service) []string         { return nil }
func (m *meshRecorder) Started(context.Context) {
	select {
	case m.started <- struct{}{}:
	default:
	}
}

// The mesh is told about a rollout's new replicas as soon as they are
// ready, not once their monitor window passed (a stop-first update of one
// replica would be unreachable for that long).
func TestMeshStartedBeforeMonitorPasses(t *testing.T) {
	h := newHarness(t, 1)
	h.fc.AddImage("web:v1")
	h.fc.AddImage("web:v2")
	web := svc("web", 1, "web:v1")
	h.deploy(web)
	m := &meshRecorder{started: make(chan struct{}, 1)}
	h.c.Mesh = m
	web2 := next(web, "web:v2", func(s *cluster.Service) { s.Update.Monitor = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := h.run(ctx, []*cluster.Service{web2}, nil, h.opts())
		done <- err
	}()
	select {
	case <-m.started:
	case err := <-done:
		t.Fatalf("rollout ended (%v) before the mesh was told", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the mesh was not told about the new replica within 30 s of a 1 h monitor window")
	}
	cancel()
	<-done
}
