package command

import (
	"bytes"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

// listingSnapshot is a state with the demo stack (web 2 replicas, db 1) and
// what three hosts run: web.1 up to date and healthy, web.2 outdated, db.1
// unhealthy with a failing check; h3 is down, so a third replica of web,
// scaled to 3, is pending behind a published port.
func listingSnapshot(t *testing.T) *snapshot {
	t.Helper()
	s := state.New("lab")
	s.Lineage = "lineage-golden"
	mergeStack(s, demoStack(func(st *cluster.Stack) {
		st.Services["web"].Replicas = 3
		st.Services["web"].Container.Ports = []cluster.Port{{Target: 80, Published: 8080, Protocol: "tcp"}}
	}), false, "stack deploy demo")
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, sv := range s.Stacks["demo"].Services {
		sv.Meta.Time, sv.Meta.By = t0, "root@ci"
	}
	s.History = []state.Run{
		{Serial: 1, Time: t0, User: "root@ci", Command: "stack deploy demo", Summary: "stack demo: added db,web", Result: "ok"},
		{Serial: 2, Time: t0.Add(time.Minute), User: "root@ci", Command: "service scale demo_web=3", Summary: "scaled", Result: "ok"},
	}
	web := s.Stacks["demo"].Services["web"].Current
	db := s.Stacks["demo"].Services["db"].Current
	rep := func(svc *cluster.Service, slot, host, id string, mods ...func(*cluster.Replica)) cluster.Replica {
		r := cluster.Replica{ID: id + "0123456789abcdef", Name: svc.FullName() + "." + slot + "." + id, Host: host, Stack: "demo",
			Service: svc.FullName(), Slot: slot, SpecHash: svc.Container.Hash(), Generation: svc.Generation, Image: svc.Container.Image,
			State: cluster.StateRunning, Created: t0}
		for _, m := range mods {
			m(&r)
		}
		return r
	}
	w := &reconcile.World{Hosts: []cluster.HostObservation{
		{Node: cluster.Node{Name: "h1", Ready: true, Availability: cluster.Active},
			Replicas: []cluster.Replica{rep(web, "1", "h1", "aaaa", func(r *cluster.Replica) { r.Health, r.Ports = "healthy", []string{"8080/tcp"} })}},
		{Node: cluster.Node{Name: "h2", Ready: true, Availability: cluster.Active},
			Replicas: []cluster.Replica{
				rep(web, "2", "h2", "bbbb", func(r *cluster.Replica) { r.SpecHash, r.Ports = "old", []string{"8080/tcp"} }),
				rep(db, "1", "h2", "cccc", func(r *cluster.Replica) {
					r.Health, r.HealthOutput = "unhealthy", "connection refused"
				}),
			}},
		{Node: cluster.Node{Name: "h3", Availability: cluster.Active, Reason: "connection refused"}},
	}}
	sn := &snapshot{state: s, world: w, pending: map[string]planner.Pending{}, missing: map[string][]planner.Action{}}
	p, err := planner.Compute(run.PlanInput(s, w, run.DesiredOf(s), map[string]bool{"demo": true}, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	for _, pd := range p.Pending {
		sn.pending[pd.Service] = pd
	}
	return sn
}

// TestListingJSON keeps the JSON of the listings in golden files: scripts
// and CI jobs read these fields.
func TestListingJSON(t *testing.T) {
	sn := listingSnapshot(t)
	var out bytes.Buffer
	e := &runEnv{output: "json", stdio: IO{Stdout: &out}}
	check := func(name string, render func() error) {
		t.Helper()
		out.Reset()
		if err := render(); err != nil {
			t.Fatal(err)
		}
		ext := ".json"
		if e.output == "table" {
			ext = ".txt"
		}
		golden(t, "listings/"+name+ext, out.String())
	}
	check("service_ls", func() error { return e.printServices(sn.serviceViews("")) })
	var svcs []*cluster.Service
	for _, name := range sortedKeys(sn.state.Stacks["demo"].Services) {
		svcs = append(svcs, sn.state.Stacks["demo"].Services[name].Current)
	}
	check("stack_ps", func() error { return e.printReplicas(sn.replicaViews(svcs), false, sn) })

	// Histories: newest first, RFC 3339 times.
	check("state_history", func() error { return writeJSON(e.stdio.Stdout, newestFirst(sn.state.History)) })
	web := sn.state.Stacks["demo"].Services["web"]
	next := *web.Current
	next.Container.Image = "web:v2"
	next.Generation = web.NextGeneration()
	web.Push(&next, state.GenerationMeta{Generation: next.Generation, Time: time.Date(2026, 12, 1, 12, 5, 0, 0, time.UTC), By: "root@ci", Changes: []string{"image web:v1 → web:v2"}})
	web.Update = &state.UpdateStatus{State: cluster.UpdatePaused, Reason: "replica demo_web.1 is unhealthy"}
	check("service_history", func() error { return writeJSON(e.stdio.Stdout, historyRows(web)) })
	nodes := []nodeView{
		toView(cluster.Node{Name: "h1", Address: "10.0.0.11", Role: cluster.Manager, Ready: true, Availability: cluster.Active,
			EngineVersion: "20.10.24", OS: "linux", Arch: "amd64", CPUs: 2, MemoryBytes: 8 << 30, Labels: map[string]string{"zone": "a"}}),
		toView(cluster.Node{Name: "h3", Address: "10.0.0.13", Role: cluster.Worker, Availability: cluster.Drain, Reason: "connection refused"}),
	}
	check("node_ls", func() error { return writeJSON(e.stdio.Stdout, nodes) })
	check("stack_ls", func() error { return e.printStacks(stackRows(sn.state)) })

	// The same listings as tables, for people.
	e.output = "table"
	check("service_ls.table", func() error { return e.printServices(sn.serviceViews("")) })
	check("stack_ps.table", func() error { return e.printReplicas(sn.replicaViews(svcs), false, sn) })
	check("stack_ls.table", func() error { return e.printStacks(stackRows(sn.state)) })
	check("node_ls.table", func() error { return printNodes(e.stdio.Stdout, nodes) })
	// Tables show times in the local zone; the goldens in UTC.
	check("state_history.table", func() error { return printRuns(e.stdio.Stdout, newestFirst(sn.state.History), time.UTC) })
	check("service_history.table", func() error { return printHistory(e.stdio.Stdout, historyRows(web), time.UTC) })
}
