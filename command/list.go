package command

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

// snapshot is the state plus what runs on the hosts, for listings. It
// takes no lock: listings never change anything.
type snapshot struct {
	state *state.State
	world *reconcile.World
	// pending holds, by service, the replicas a run would leave pending
	// now, and missing the slots that have no container a run would keep
	// (the next run creates them): the planner's answer on what was observed.
	pending map[string]planner.Pending
	missing map[string][]planner.Action
}

func (e *runEnv) snapshot(ctx context.Context) (*snapshot, error) {
	st, err := e.store()
	if err != nil {
		return nil, err
	}
	s, err := e.readState(ctx, st)
	if err != nil {
		return nil, err
	}
	w := e.cluster(s).Observe(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sn := &snapshot{state: s, world: w, pending: map[string]planner.Pending{}, missing: map[string][]planner.Action{}}
	scope := map[string]bool{"": true}
	for _, name := range s.StackNames() {
		scope[name] = true
	}
	// Listings show what the next run would leave pending; a desired state
	// that cannot be planned at all is an error of the run, not of a listing.
	in := run.PlanInput(s, w, run.DesiredOf(s), scope, time.Now())
	in.ImagePlatforms, in.HostImagePlatforms = e.imagePlatforms(ctx, w, s.Services(), false, false)
	if p, err := planner.Compute(in); err == nil {
		for _, pd := range p.Pending {
			sn.pending[pd.Service] = pd
		}
		seen := map[string]bool{}
		for _, r := range w.Replicas() {
			seen[r.Service+"."+r.Slot] = true
		}
		for _, a := range p.Actions {
			if a.Kind == planner.Create && !seen[a.Service+"."+a.Slot] {
				sn.missing[a.Service] = append(sn.missing[a.Service], a)
			}
		}
	} else {
		e.log.Debug().Err(err).Msg("cannot plan: pending replicas are not shown")
	}
	return sn, nil
}

// replicasOf returns the observed replicas of a service, by slot.
func (sn *snapshot) replicasOf(full string) []cluster.Replica {
	var out []cluster.Replica
	for _, r := range sn.world.Replicas() {
		if r.Service == full {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i].Slot)
		b, _ := strconv.Atoi(out[j].Slot)
		if a != b {
			return a < b
		}
		if out[i].Slot != out[j].Slot {
			return out[i].Slot < out[j].Slot
		}
		return out[i].Created.After(out[j].Created)
	})
	return out
}

// serviceView is one row of `service ls` / `stack services`.
type serviceView struct {
	Name       string              `json:"name"`
	Stack      string              `json:"stack"`
	Mode       string              `json:"mode"`
	Running    int                 `json:"running"`    // running replicas, any generation, not unhealthy
	UpToDate   int                 `json:"up_to_date"` // of those, the ones of the current spec
	Desired    int                 `json:"desired"`
	Image      string              `json:"image"`
	Ports      []string            `json:"ports,omitempty"`
	Generation int                 `json:"generation"`
	Update     cluster.UpdateState `json:"update_state,omitempty"`
	Reason     string              `json:"update_reason,omitempty"`
	// Pending replicas have no node to go to now, for PendingReason.
	Pending       int    `json:"pending"`
	PendingReason string `json:"pending_reason,omitempty"`
}

func (sn *snapshot) serviceViews(stack string) []serviceView {
	var out []serviceView
	for _, svc := range sn.state.Services() {
		if stack != "" && svc.Stack != stack {
			continue
		}
		v := serviceView{Name: svc.FullName(), Stack: svc.Stack, Mode: string(svc.Mode), Image: svc.Container.Image, Generation: svc.Generation, Desired: svc.Replicas}
		if svc.Mode == cluster.Global {
			v.Desired = 0
			for _, h := range sn.world.Hosts {
				if h.Node.Ready {
					v.Desired++ // an upper bound: constraints may exclude some
				}
			}
		}
		hash := svc.Container.Hash()
		for _, r := range sn.replicasOf(v.Name) {
			if r.Running() && r.Health != "unhealthy" {
				v.Running++
				if r.SpecHash == hash {
					v.UpToDate++
				}
			}
		}
		for _, p := range svc.Container.Ports {
			switch {
			case p.Ingress():
				// Every node, through the routing mesh: Swarm's "*:".
				v.Ports = append(v.Ports, fmt.Sprintf("*:%d->%d/%s", p.Published, p.Target, p.Proto()))
			case p.Published != 0:
				// Only the hosts that run a replica (mode: host).
				v.Ports = append(v.Ports, fmt.Sprintf("host:%d->%d/%s", p.Published, p.Target, p.Proto()))
			}
		}
		if _, sv, ok := sn.state.FindService(v.Name); ok && sv.Update != nil {
			v.Update, v.Reason = sv.Update.State, sv.Update.Reason
		}
		if pd, ok := sn.pending[v.Name]; ok {
			v.Pending, v.PendingReason = pd.Replicas(), pd.Reason
		}
		out = append(out, v)
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (e *runEnv) printServices(views []serviceView) error {
	if e.output == "json" {
		if views == nil {
			views = []serviceView{}
		}
		return writeJSON(e.stdio.Stdout, views)
	}
	t := newTable(e.stdio.Stdout, "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS", "GEN", "UPDATE")
	for _, v := range views {
		upd := dash(string(v.Update))
		if v.Reason != "" && !v.Update.Completed() {
			upd += ": " + v.Reason
		}
		t.row(v.Name, v.Mode, fmt.Sprintf("%d/%d", v.Running, v.Desired), v.Image, dash(strings.Join(v.Ports, ",")), strconv.Itoa(v.Generation), upd)
	}
	if err := t.flush(); err != nil {
		return err
	}
	for _, v := range views {
		if v.Pending > 0 {
			fmt.Fprintf(e.stdio.Stdout, "\n%s: %s pending: %s\n", v.Name, plural(v.Pending, "replica", "replicas"), v.PendingReason)
		}
	}
	return nil
}

func withSnapshot(c *cli.Context, stdio IO, fn func(e *runEnv, sn *snapshot) error) error {
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	sn, err := e.snapshot(c.Context)
	if err != nil {
		return err
	}
	for _, h := range sn.world.Hosts {
		if !h.Node.Ready {
			e.log.Warn().Str("host", h.Node.Name).Msg("host is down (" + h.Node.Reason + "): its replicas are not listed")
		}
	}
	return fn(e, sn)
}

func runStackLs(c *cli.Context, stdio IO) error {
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	s, err := e.readState(c.Context, st)
	if err != nil {
		return err
	}
	return e.printStacks(stackRows(s))
}

// stackRow is one stack, for stack ls.
type stackRow struct {
	Name     string `json:"name"`
	Services int    `json:"services"`
}

func stackRows(s *state.State) []stackRow {
	rows := []stackRow{}
	for _, n := range s.StackNames() {
		rows = append(rows, stackRow{n, len(s.Stacks[n].Services)})
	}
	return rows
}

func (e *runEnv) printStacks(rows []stackRow) error {
	if e.output == "json" {
		return writeJSON(e.stdio.Stdout, rows)
	}
	t := newTable(e.stdio.Stdout, "NAME", "SERVICES")
	for _, r := range rows {
		t.row(r.Name, strconv.Itoa(r.Services))
	}
	return t.flush()
}

func runStackServices(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "stack services STACK")
	if err != nil {
		return err
	}
	return withSnapshot(c, stdio, func(e *runEnv, sn *snapshot) error {
		if _, ok := sn.state.Stacks[name]; !ok {
			return fmt.Errorf("no stack %q (stacks: %s)", name, strings.Join(sn.state.StackNames(), ", "))
		}
		return e.printServices(sn.serviceViews(name))
	})
}

// replicaView is one row of `stack ps` / `service ps`.
type replicaView struct {
	Name              string   `json:"name"` // service.slot
	Container         string   `json:"container"`
	ID                string   `json:"id"`
	Service           string   `json:"service"`
	Slot              string   `json:"slot"`
	Node              string   `json:"node"`
	Image             string   `json:"image"`
	State             string   `json:"state"`
	Health            string   `json:"health,omitempty"`
	Generation        int      `json:"generation"`
	DesiredGeneration int      `json:"desired_generation"`
	UpToDate          bool     `json:"up_to_date"`
	Ports             []string `json:"ports,omitempty"`
	Error             string   `json:"error,omitempty"`
}

func psFlags() []cli.Flag {
	return []cli.Flag{&cli.BoolFlag{Name: "no-trunc", Usage: "show full container IDs"}}
}

func (sn *snapshot) replicaViews(services []*cluster.Service) []replicaView {
	out := []replicaView{}
	for _, svc := range services {
		hash := svc.Container.Hash()
		for _, r := range sn.replicasOf(svc.FullName()) {
			v := replicaView{Name: svc.FullName() + "." + r.Slot, Container: r.Name, ID: r.ID, Service: svc.FullName(), Slot: r.Slot, Node: r.Host,
				Image: r.Image, State: r.State, Health: r.Health, Generation: r.Generation, DesiredGeneration: svc.Generation,
				UpToDate: r.SpecHash == hash, Ports: r.Ports}
			switch {
			case r.State == cluster.StateExited || r.State == cluster.StateDead:
				v.Error = fmt.Sprintf("exit code %d", r.ExitCode)
			case r.HealthOutput != "":
				v.Error = "health check: " + r.HealthOutput
			}
			out = append(out, v)
		}
		// Missing and pending replicas have no container: they are shown
		// with what the next run does about them.
		for _, a := range sn.missing[svc.FullName()] {
			out = append(out, replicaView{Name: svc.FullName() + "." + a.Slot, Service: svc.FullName(), Slot: a.Slot,
				Image: svc.Container.Image, State: StateMissing, DesiredGeneration: svc.Generation,
				Error: "no container; the next run creates it on " + a.Host})
		}
		pd := sn.pending[svc.FullName()]
		for _, slot := range pd.Slots {
			out = append(out, replicaView{Name: svc.FullName() + "." + slot, Service: svc.FullName(), Slot: slot,
				Image: svc.Container.Image, State: StatePending, DesiredGeneration: svc.Generation, Error: pd.Reason})
		}
	}
	return out
}

// The states `stack ps` and `service ps` show for a replica without a
// container: pending has no node to go to; missing has one, and the next
// run (reconcile, deploy) creates it there.
const (
	StatePending = "pending"
	StateMissing = "missing"
)

func (e *runEnv) printReplicas(views []replicaView, noTrunc bool, sn *snapshot) error {
	if e.output == "json" {
		return writeJSON(e.stdio.Stdout, views)
	}
	t := newTable(e.stdio.Stdout, "NAME", "ID", "IMAGE", "NODE", "STATE", "GEN", "UP-TO-DATE", "PORTS", "ERROR")
	for _, v := range views {
		id := v.ID
		if !noTrunc && len(id) > 12 {
			id = id[:12]
		}
		st := v.State
		if v.Health != "" {
			st += " (" + v.Health + ")"
		}
		upd := "yes"
		if !v.UpToDate {
			upd = "no"
		}
		gen := fmt.Sprintf("%d/%d", v.Generation, v.DesiredGeneration)
		if v.State == StatePending || v.State == StateMissing {
			upd, gen = "-", fmt.Sprintf("-/%d", v.DesiredGeneration)
		}
		t.row(v.Name, dash(id), v.Image, dash(v.Node), st, gen, upd, dash(strings.Join(v.Ports, ",")), dash(v.Error))
	}
	if err := t.flush(); err != nil {
		return err
	}
	// A paused or failed update is shown under the table, with its reason.
	seen := map[string]bool{}
	for _, v := range views {
		if seen[v.Service] {
			continue
		}
		seen[v.Service] = true
		if _, sv, ok := sn.state.FindService(v.Service); ok && sv.Update != nil && !sv.Update.State.Completed() {
			fmt.Fprintf(e.stdio.Stdout, "\n%s: update %s: %s\n", v.Service, sv.Update.State.Display(), sv.Update.Reason)
		}
	}
	return nil
}

func runStackPs(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "stack ps STACK")
	if err != nil {
		return err
	}
	return withSnapshot(c, stdio, func(e *runEnv, sn *snapshot) error {
		st, ok := sn.state.Stacks[name]
		if !ok {
			return fmt.Errorf("no stack %q (stacks: %s)", name, strings.Join(sn.state.StackNames(), ", "))
		}
		var svcs []*cluster.Service
		for _, k := range sortedKeys(st.Services) {
			svcs = append(svcs, st.Services[k].Current)
		}
		return e.printReplicas(sn.replicaViews(svcs), c.Bool("no-trunc"), sn)
	})
}
