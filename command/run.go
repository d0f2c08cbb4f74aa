package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/state"
)

// store returns the state backend named by the inventory.
func (e *runEnv) store() (state.Store, error) {
	switch e.inv.State.Backend {
	case "local":
		_, machine := whoami()
		return &state.Local{Path: e.inv.State.Path, TTL: e.inv.State.LockTTL, Machine: machine, OnTakeover: func(old state.LockInfo) {
			e.log.Warn().Str("holder", old.Owner).Int("pid", old.PID).Time("expires", old.Expires).
				Msg("taking over the state lock of a run that is gone (expired, or its process no longer exists)")
		}}, nil
	case "managers":
		return e.managersStore(e.inv.State.Dir), nil
	}
	return nil, fmt.Errorf("state backend %q is not available in this drover", e.inv.State.Backend)
}

// The managers backend uses Rename and MkdirAll when the RemoteFS has them.
var (
	_ state.RemoteFS = (*ssh.Files)(nil)
	_ state.Renamer  = (*ssh.Files)(nil)
	_ state.DirMaker = (*ssh.Files)(nil)
)

// managersStore keeps the state on every manager host over SFTP, through
// the run's pooled connections.
func (e *runEnv) managersStore(dir string) *state.Managers {
	_, machine := whoami()
	var hosts []string
	for _, h := range e.inv.Hosts {
		if h.Role == cluster.Manager {
			hosts = append(hosts, h.Name)
		}
	}
	return &state.Managers{
		Hosts: hosts,
		Open: func(ctx context.Context, host string) (state.RemoteFS, error) {
			// Dial now, so that an unreachable manager fails here.
			if _, err := e.pool.Client(ctx, host); err != nil {
				return nil, err
			}
			return e.pool.Files(host), nil
		},
		Dir:       dir,
		TTL:       e.inv.State.LockTTL,
		OpTimeout: e.inv.State.OpTimeout,
		Machine:   machine,
		OnTakeover: func(old state.LockInfo) {
			e.log.Warn().Str("holder", old.Owner).Int("pid", old.PID).Time("expires", old.Expires).
				Msg("taking over the state lock of a run that is gone (expired, or its process no longer exists)")
		},
		OnLagging: func(host string, serial int64) {
			switch {
			case serial < 0:
				e.log.Warn().Str("host", host).Msg("manager unreachable: its copy of the state is repaired by a later run")
			default:
				e.log.Info().Str("host", host).Int64("serial", serial).Msg("manager's copy of the state lags: this run's write repairs it")
			}
		},
	}
}

// readState reads the state, or starts a new one.
func (e *runEnv) readState(ctx context.Context, st state.Store) (*state.State, error) {
	s, err := st.Read(ctx)
	if errors.Is(err, state.ErrNoState) {
		return state.New(e.inv.Cluster), nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.Validate(e.inv.Cluster); err != nil {
		return nil, fmt.Errorf("%s: %w", st.Describe(), err)
	}
	if err := e.openState(s); err != nil {
		return nil, fmt.Errorf("%s: %w", st.Describe(), err)
	}
	return s, nil
}

// lock takes the state lock for a run that may change things.
func (e *runEnv) lock(ctx context.Context, st state.Store, command string) (state.Lock, error) {
	owner, machine := whoami()
	info := state.LockInfo{Owner: owner, Machine: machine, PID: os.Getpid(), Command: command}
	// The host name is for people; the identity is what tells another
	// run whether this process still exists.
	state.LocalIdentity().Stamp(&info)
	return state.LockWithRetry(ctx, st, info, e.lockTimeout, 500*time.Millisecond)
}

// nodes builds the scheduler's view of the inventory, with the node
// settings kept in the state.
func (e *runEnv) nodes(s *state.State) []cluster.Node {
	out := make([]cluster.Node, 0, len(e.inv.Hosts))
	for _, h := range e.inv.Hosts {
		n := cluster.Node{Name: h.Name, Address: h.Address, Role: h.Role, Availability: cluster.Active, Labels: map[string]string{}}
		for k, v := range h.Labels {
			n.Labels[k] = v
		}
		if ns, ok := s.Nodes[h.Name]; ok {
			if ns.Availability != "" {
				n.Availability = ns.Availability
			}
			for k, v := range ns.LabelsAdd {
				n.Labels[k] = v
			}
			for _, k := range ns.LabelsRemove {
				delete(n.Labels, k)
			}
		}
		out = append(out, n)
	}
	return out
}

// cluster returns the reconcile view of the hosts.
func (e *runEnv) cluster(s *state.State) *reconcile.Cluster {
	return &reconcile.Cluster{
		Nodes:    e.nodes(s),
		Connect:  e.engineFor,
		Parallel: e.parallel,
		Report:   e.reporter(),
	}
}

// change is one run that may change the cluster: lock, read the state,
// let mutate edit the desired state, observe, plan, show the plan, apply it
// and save the new state version.
type change struct {
	Command string // for the audit trail and lock
	// Scope lists the stacks the run may change; nil means the stacks the
	// state knows. AllStacks widens nil to every drover container of the
	// cluster, so containers of stacks the state does not know are removed
	// (reconcile).
	Scope        []string
	AllStacks    bool
	DryRun       bool
	DetailedExit bool
	Quiet        bool // print nothing on stdout when there is nothing to do
	// Mutate edits the desired state and returns a summary of the edit.
	Mutate func(s *state.State) (string, error)
	// ScopeOf, when set, gives the stacks the run may change once Mutate
	// ran (the stacks of the services it named), in place of Scope.
	ScopeOf func(s *state.State) []string
	// BeforeApply runs after the plan is shown and before anything
	// changes (e.g. image push).
	BeforeApply func(ctx context.Context, w *reconcile.World, p *planner.Plan, d reconcile.Desired) error
	// AfterApply runs after the containers (e.g. stack rm's networks) and
	// says what it changed ("" for nothing), for the run's summary.
	AfterApply func(ctx context.Context, w *reconcile.World, s *state.State) (string, error)
	Timeout    time.Duration
	// UseRollbackPolicy rolls replicas with rollback_config instead of
	// update_config (service rollback).
	UseRollbackPolicy bool
	// CheckState runs on the state as read, before Mutate (apply: refuse a
	// stale saved plan). CheckPlan runs on the computed plan before anything
	// changes. SavePlan receives a dry run's plan (plan --out FILE).
	CheckState func(s *state.State) error
	CheckPlan  func(s *state.State, p *planner.Plan) error
	SavePlan   func(lineage string, serial int64, s *state.State, p *planner.Plan) error
	// Adopt lets a run start a new state although the hosts carry
	// containers of this cluster (stack deploy --adopt); the stacks of those
	// containers that the run does not deploy become State.Unclaimed.
	Adopt bool
	// PushLocal says the local engine's images will be pushed (stack
	// deploy --push): their platforms count for placement.
	PushLocal bool
	// FixDrift and UnhealthyGrace are reconcile's healing rules.
	FixDrift       bool
	UnhealthyGrace time.Duration
}

// errLockLost ends a run whose state lock was taken over.
var errLockLost = errors.New("the state lock was lost (taken over by another run): this run's changes were stopped and the state was not saved; run reconcile")

// runResult is the JSON a change prints with --output json: one document
// on stdout in every outcome, errors and refusals included (docs/cli.md).
type runResult struct {
	Plan    *planner.Plan     `json:"plan"`    // null when the run stopped before planning
	Changes int               `json:"changes"` // actions in the plan
	Pending int               `json:"pending"` // replicas left pending
	Applied bool              `json:"applied"`
	Result  *reconcile.Result `json:"result,omitempty"` // each rollout's outcome
	Serial  int64             `json:"serial"`
	Down    map[string]string `json:"down_hosts,omitempty"`
	// Error is the run's error as drover prints it on stderr, ExitCode the
	// process's exit code (docs/cli.md#exit-codes).
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code"`
}

// runChange carries out ch for the command c and, with --output json,
// prints its result whatever the outcome. Fields every changing command
// takes from its flags (--dry-run, --detailed-exitcode, --timeout) and the
// command line for the audit trail are filled in from c when unset.
func (e *runEnv) runChange(c *cli.Context, ch change) error {
	var out runResult
	err := e.runChangeInto(c, ch, &out)
	if e.output == "json" {
		out.Error, out.ExitCode = "", exitCode(c.Context, err)
		if err != nil {
			out.Error = err.Error()
		}
		writeJSON(e.stdio.Stdout, out)
	}
	return err
}

// runChangeInto is runChange; it fills out as far as the run got.
func (e *runEnv) runChangeInto(c *cli.Context, ch change, out *runResult) error {
	ctx := c.Context
	var lost <-chan struct{}
	if ch.Command == "" {
		ch.Command = commandLine(c)
	}
	ch.DryRun = ch.DryRun || c.Bool("dry-run")
	e.dryRun = e.dryRun || ch.DryRun
	ch.DetailedExit = ch.DetailedExit || c.Bool("detailed-exitcode")
	if ch.Timeout == 0 {
		ch.Timeout = c.Duration("timeout")
	}
	st, err := e.store()
	if err != nil {
		return err
	}
	if !ch.DryRun {
		lk, err := e.lock(ctx, st, ch.Command)
		if err != nil {
			return err
		}
		defer lk.Release(context.WithoutCancel(ctx))
		// A run that lost its lock (another run took it over) stops
		// changing the cluster and does not write the state.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		lost = lk.Lost()
		go func() {
			select {
			case <-lost:
				e.log.Error().Msg("state lock lost: another run may have taken it over; stopping")
				cancel(errLockLost)
			case <-ctx.Done():
			}
		}()
	}
	s, err := e.readState(ctx, st)
	if err != nil {
		return err
	}
	if ch.CheckState != nil {
		if err := ch.CheckState(s); err != nil {
			return err
		}
	}
	readLineage, readSerial := s.Lineage, s.Serial
	before, _ := state.Marshal(s)
	specsBefore := serviceSpecs(s)
	summary := ""
	if ch.Mutate != nil {
		if summary, err = ch.Mutate(s); err != nil {
			return err
		}
	}
	after, _ := state.Marshal(s)
	desiredChanged := string(before) != string(after)
	if ch.ScopeOf != nil {
		ch.Scope = ch.ScopeOf(s)
	}

	cl := e.cluster(s)
	w := cl.Observe(ctx)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	down := map[string]string{}
	for _, h := range w.Hosts {
		if !h.Node.Ready {
			down[h.Node.Name] = h.Node.Reason
		}
	}
	out.Serial, out.Down = s.Serial, down
	if s.Serial == 0 {
		// No state: a lost or misplaced state file must never read as an
		// empty cluster whose containers are all orphans.
		if err := e.checkNoState(st, s, w, ch); err != nil {
			return err
		}
	}
	scope := map[string]bool{}
	for _, sc := range ch.Scope {
		scope[sc] = true
	}
	switch {
	case len(scope) == 0 && !ch.AllStacks:
		// Only what this state manages: never another state's stacks.
		scope[""] = true // a stack name no container has: keeps the scope non-empty
		for _, sc := range s.StackNames() {
			scope[sc] = true
		}
	case len(scope) == 0 && len(s.Unclaimed) > 0:
		// Every stack but the unclaimed ones, whose containers no run
		// removes until they are deployed or removed by name.
		scope[""] = true
		for _, sc := range s.StackNames() {
			scope[sc] = true
		}
		for _, r := range w.Replicas() {
			scope[r.Stack] = true
		}
		for _, sc := range s.Unclaimed {
			delete(scope, sc)
			e.log.Warn().Str("stack", sc).Msg("stack is unclaimed (its containers ran when this state was started with --adopt): left as it is; deploy it with `drover stack deploy`, or remove it with `drover stack rm`")
		}
	}
	d := desiredOf(s)
	reconcile.DetectDrift(w, d.Services)
	if ch.UseRollbackPolicy {
		for name, svc := range d.Services {
			cp := *svc
			cp.Update = svc.Rollback
			d.Services[name] = &cp
		}
	}
	in := planInput(s, w, d, scope)
	in.UnhealthyGrace, in.FixDrift = ch.UnhealthyGrace, ch.FixDrift
	in.ImagePlatforms, in.HostImagePlatforms = e.imagePlatforms(ctx, w, s.Services(), ch.PushLocal, true)
	p, err := planner.Compute(in)
	if err != nil {
		return refused(ch.DryRun, err)
	}
	// A new desired state that no inventoried node could ever run is a
	// mistake in the spec: refuse it before anything changes. Shortages
	// that time mends only leave replicas pending.
	if ue := unsatisfiableChanges(p, specsBefore, serviceSpecs(s)); ue != nil {
		out.Plan, out.Changes, out.Pending = p, p.Changes(), p.PendingReplicas()
		return refused(ch.DryRun, ue)
	}
	for _, warn := range p.Warnings {
		e.log.Warn().Msg(warn)
	}
	*out = runResult{Plan: p, Changes: p.Changes(), Pending: p.PendingReplicas(), Serial: s.Serial, Down: down}
	if e.output != "json" && (!p.Converged() || !ch.Quiet) {
		e.renderPlan(p)
	}
	if ch.CheckPlan != nil {
		if err := ch.CheckPlan(s, p); err != nil {
			return err
		}
	}
	if ch.DryRun {
		if ch.SavePlan != nil {
			if err := ch.SavePlan(readLineage, readSerial, s, p); err != nil {
				return err
			}
		}
		if err := pendingExit(p); err != nil {
			return err
		}
		if ch.DetailedExit && (!p.Empty() || desiredChanged) {
			return withCode(ExitChanges, nil)
		}
		return nil
	}
	if ch.BeforeApply != nil {
		if err := ch.BeforeApply(ctx, w, p, d); err != nil {
			return err
		}
	}
	var applyErr error
	res := &reconcile.Result{}
	if !p.Empty() {
		opts := reconcile.ApplyOptions{UpdateTimeout: ch.Timeout}
		if s.Serial == 0 {
			opts.BeforeChanges = func(ctx context.Context) error { return e.startState(ctx, st, s, ch.Command) }
		}
		res, applyErr = cl.Apply(ctx, p, w, d, opts)
	}
	var pre *reconcile.PreflightError
	if errors.As(applyErr, &pre) {
		// Refused before any change: the state keeps what it had, so a
		// later reconcile does not chase a desired state nobody got.
		return applyErr
	}
	extra := ""
	if ch.AfterApply != nil && applyErr == nil {
		extra, applyErr = ch.AfterApply(ctx, w, s)
	}
	changed := res.Changed() || extra != ""
	done := summarize(res)
	if extra != "" {
		done += ", " + extra
	}
	if desiredChanged || changed || applyErr != nil {
		recordOutcomes(s, res)
		s.Serial++
		who, _ := whoami()
		result := "ok"
		if applyErr != nil {
			result = "failed"
			var ue *reconcile.UpdateError
			if errors.As(applyErr, &ue) {
				result = strings.ReplaceAll(ue.State, "_", " ")
			}
		}
		if summary == "" {
			summary = done
		} else if changed {
			summary += "; " + done
		}
		if n := p.PendingReplicas(); n > 0 {
			summary += fmt.Sprintf("; %s pending", plural(n, "replica", "replicas"))
		}
		s.AddRun(state.Run{Serial: s.Serial, Time: time.Now().UTC(), User: who, Command: ch.Command, Summary: summary, Result: result})
		select {
		case <-lost:
			return errors.Join(applyErr, errLockLost)
		default:
		}
		// Save even when the context was cancelled: what was applied must
		// be on record.
		if err := e.writeState(context.WithoutCancel(ctx), st, s); err != nil {
			return errors.Join(applyErr, fmt.Errorf("saving state to %s: %w", st.Describe(), err))
		}
	}
	out.Applied, out.Result, out.Serial = true, res, s.Serial
	if applyErr != nil {
		out.Error = applyErr.Error()
	}
	if e.output != "json" && changed {
		fmt.Fprintf(e.stdio.Stdout, "%s (serial %d)\n", done, s.Serial)
	}
	if applyErr != nil {
		if ctx.Err() != nil {
			e.reportInterrupted(ctx, cl, s, in)
		}
		return applyErr
	}
	if err := pendingExit(p); err != nil {
		return err
	}
	if ch.DetailedExit && (changed || desiredChanged) {
		return withCode(ExitChanges, nil)
	}
	return nil
}

// desiredOf gathers the state's services, previous generations, networks
// and volumes for Apply.
func desiredOf(s *state.State) reconcile.Desired {
	d := reconcile.Desired{
		Services: map[string]*cluster.Service{},
		Previous: map[string]*cluster.Service{},
		Networks: map[string]cluster.Network{},
		Volumes:  map[string]cluster.Volume{},
	}
	for _, st := range s.Stacks {
		for _, svc := range st.Services {
			d.Services[svc.Current.FullName()] = svc.Current
			if g, err := svc.RollbackTarget(0); err == nil {
				d.Previous[svc.Current.FullName()] = g.Spec
			}
		}
		for _, n := range st.Networks {
			d.Networks[n.Name] = n
		}
		for _, v := range st.Volumes {
			d.Volumes[v.Name] = v
		}
	}
	return d
}

// recordOutcomes writes each service's rollout result into the state.
func recordOutcomes(s *state.State, res *reconcile.Result) {
	now := time.Now().UTC()
	for _, o := range res.Services {
		_, svc, ok := s.FindService(o.Service)
		if !ok {
			continue
		}
		switch o.State {
		case "completed":
			svc.Meta.Result = "completed"
		case "rollback_completed":
			// As in Swarm, the service's spec is the previous one again;
			// the failed generation stays in the history as rolled back.
			svc.Meta.Result = "rolled back: " + o.Reason
			if err := svc.RollbackTo(0, svc.Meta.Result); err != nil {
				svc.Meta.Result = "rollback_completed"
			}
		default:
			svc.Meta.Result = o.State
		}
		svc.Update = &state.UpdateStatus{State: o.State, Reason: o.Reason, Started: now, Ended: now}
	}
}

func summarize(r *reconcile.Result) string {
	var c, u, rm, rb int
	for _, o := range r.Services {
		c += o.Created
		u += o.Replaced
		rm += o.Removed
		rb += o.RolledBack
	}
	parts := []string{fmt.Sprintf("%d created", c), fmt.Sprintf("%d replaced", u), fmt.Sprintf("%d removed", rm)}
	if rb > 0 {
		parts = append(parts, fmt.Sprintf("%d rolled back", rb))
	}
	if r.Networks+r.Volumes > 0 {
		parts = append(parts, fmt.Sprintf("%s, %s created", plural(r.Networks, "network", "networks"), plural(r.Volumes, "volume", "volumes")))
	}
	return strings.Join(parts, ", ")
}

// interruptedLook bounds the look at the hosts after an interrupted run.
const interruptedLook = 5 * time.Second

// reportInterrupted tells, after a run was interrupted mid-rollout, which
// replicas are now missing or outdated: it looks at the hosts once more and
// plans again, which is what the next run will continue with.
func (e *runEnv) reportInterrupted(ctx context.Context, cl *reconcile.Cluster, s *state.State, in planner.Input) {
	look, cancel := context.WithTimeout(context.WithoutCancel(ctx), interruptedLook)
	defer cancel()
	w := cl.Observe(look)
	in.Observed, in.Now = w.Hosts, time.Now()
	p, err := planner.Compute(in)
	if err != nil {
		e.log.Warn().Err(err).Msg("interrupted: cannot tell what is left to do; run `drover reconcile`")
		return
	}
	var missing, outdated, surplus []string
	for _, a := range p.Actions {
		switch a.Kind {
		case planner.Create:
			missing = append(missing, a.Service+"."+a.Slot)
		case planner.Replace:
			outdated = append(outdated, fmt.Sprintf("%s.%s (gen %d, want %d)", a.Service, a.Slot, a.Old.Generation, a.Generation))
		case planner.Remove:
			surplus = append(surplus, a.Service+"."+a.Slot+"@"+a.Host)
		}
	}
	if len(missing)+len(outdated)+len(surplus) == 0 {
		e.log.Warn().Msg("interrupted: every replica is in place and up to date")
		return
	}
	l := e.log.Warn()
	if len(missing) > 0 {
		l = l.Strs("missing", missing)
	}
	if len(outdated) > 0 {
		l = l.Strs("outdated", outdated)
	}
	if len(surplus) > 0 {
		l = l.Strs("surplus", surplus)
	}
	l.Msgf("interrupted mid-rollout: %d missing, %d outdated, %d to remove; the next `drover stack deploy` of the same files or `drover reconcile` continues the rollout",
		len(missing), len(outdated), len(surplus))
}

// planInput is the planner's view of a run: the state's services, what was
// observed, the stacks the run may change.
func planInput(s *state.State, w *reconcile.World, d reconcile.Desired, scope map[string]bool) planner.Input {
	return planner.Input{
		Services: s.Services(),
		Scope:    scope,
		Observed: w.Hosts,
		Specs:    s.Specs(),
		Networks: d.Networks,
		Volumes:  d.Volumes,
		Now:      time.Now(),
	}
}

// startState writes the first version of a new state, with no stacks yet
// (and the unclaimed ones), before the first run on a cluster changes
// anything. A first run killed mid-apply then leaves a state, not "no
// state", behind: the next run is not refused as if the state were lost,
// and adopts by spec hash what the killed one created.
func (e *runEnv) startState(ctx context.Context, st state.Store, s *state.State, command string) error {
	first := state.New(s.Cluster)
	first.Lineage, first.Unclaimed = s.Lineage, s.Unclaimed
	first.Serial = 1
	who, _ := whoami()
	first.AddRun(state.Run{Serial: 1, Time: time.Now().UTC(), User: who, Command: command, Summary: "state started", Result: "ok"})
	if err := e.writeState(context.WithoutCancel(ctx), st, first); err != nil {
		return fmt.Errorf("starting the state at %s: %w", st.Describe(), err)
	}
	s.Serial = 1
	s.History = append([]state.Run(nil), first.History...)
	return nil
}

// NoStateError refuses a run that finds no state while the hosts carry
// containers of the cluster.
type NoStateError struct {
	Where      string         // the state backend and location
	Cluster    string         // the inventory's cluster name
	Containers int            // drover containers of the cluster observed
	Stacks     map[string]int // their stacks, with container counts
	Hosts      []string       // the hosts they run on
}

func (e *NoStateError) Error() string {
	stacks := make([]string, 0, len(e.Stacks))
	for _, n := range sortedKeys(e.Stacks) {
		stacks = append(stacks, fmt.Sprintf("%s (%d)", orDefault(n, `""`), e.Stacks[n]))
	}
	return fmt.Sprintf("no state found at %s, but %s of cluster %q run on %s (stacks: %s): nothing was changed, "+
		"since a missing state would make them look like orphans. "+
		"Point drover at the right state (the inventory's state: section, or -i for another inventory), "+
		"restore it (`drover state push FILE`; the local backend keeps the previous version as STATE.backup), "+
		"or take the running containers under a new state with `drover stack deploy --adopt -c FILE STACK`",
		e.Where, plural(e.Containers, "container", "containers"), e.Cluster, strings.Join(e.Hosts, ", "), strings.Join(stacks, ", "))
}

// checkNoState refuses a run on a new state while containers of the
// cluster run (unless it adopts them), and records the stacks it adopts
// without deploying them as unclaimed.
func (e *runEnv) checkNoState(st state.Store, s *state.State, w *reconcile.World, ch change) error {
	found := &NoStateError{Where: st.Describe(), Cluster: e.inv.Cluster, Stacks: map[string]int{}}
	for _, h := range w.Hosts {
		if len(h.Replicas) == 0 {
			continue
		}
		found.Hosts = append(found.Hosts, h.Node.Name)
		for _, r := range h.Replicas {
			found.Containers++
			found.Stacks[r.Stack]++
		}
	}
	if found.Containers == 0 {
		return nil
	}
	if !ch.Adopt {
		return found
	}
	named := map[string]bool{}
	for _, n := range ch.Scope {
		named[n] = true
	}
	for _, name := range sortedKeys(found.Stacks) {
		if _, deployed := s.Stacks[name]; !deployed && !named[name] && name != "" {
			s.Unclaimed = append(s.Unclaimed, name)
		}
	}
	return nil
}

// serviceSpecs maps each service of the state to its current spec as JSON,
// to tell which services a run changes.
func serviceSpecs(s *state.State) map[string]string {
	out := map[string]string{}
	for _, svc := range s.Services() {
		b, _ := json.Marshal(svc)
		out[svc.FullName()] = string(b)
	}
	return out
}

// unsatisfiableChanges returns the pending replicas that no node could
// ever run, of the services whose spec this run changes: a new spec that
// cannot run anywhere is refused. An unchanged spec that became
// unsatisfiable (the inventory changed) only stays pending, so that it
// never blocks healing or draining the rest.
func unsatisfiableChanges(p *planner.Plan, before, after map[string]string) *planner.UnschedulableError {
	var out []planner.ServiceUnschedulable
	if ue := p.Unsatisfiable(); ue != nil {
		for _, su := range ue.Services {
			if before[su.Service] != after[su.Service] {
				out = append(out, su)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return &planner.UnschedulableError{Services: out}
}

// refused is the error of a run that stopped before changing anything
// because the desired state cannot be planned.
func refused(dryRun bool, err error) error {
	if dryRun {
		return fmt.Errorf("cannot plan: %w", err)
	}
	return fmt.Errorf("nothing was changed: %w", err)
}

// pendingExit ends a run that left replicas pending with ExitPending and a
// message naming them, so that cron and CI notice.
func pendingExit(p *planner.Plan) error {
	ue := p.Unschedulable()
	if ue == nil {
		return nil
	}
	return withCode(ExitPending, fmt.Errorf("%s pending (every run tries again): %w", plural(p.PendingReplicas(), "replica", "replicas"), ue))
}

// plural is "1 replica", "2 replicas".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// renderPlan prints the plan for people.
func (e *runEnv) renderPlan(p *planner.Plan) {
	if p.Converged() {
		fmt.Fprintln(e.stdio.Stdout, "No changes: the cluster matches the desired state.")
		return
	}
	p.Render(e.stdio.Stdout)
}

// reporter logs progress events: one line per event, JSON with
// --log-format json.
func (e *runEnv) reporter() reconcile.Reporter {
	return reconcile.ReporterFunc(func(ev reconcile.Event) {
		lvl := e.log.Info()
		switch ev.Kind {
		case reconcile.EventHostDown, reconcile.EventWarning:
			lvl = e.log.Warn()
		case reconcile.EventActionFailed:
			lvl = e.log.Error()
		}
		l := lvl.Str("event", string(ev.Kind))
		for k, v := range map[string]string{"host": ev.Host, "service": ev.Service, "slot": ev.Slot, "container": ev.Container, "action": string(ev.Action)} {
			if v != "" {
				l = l.Str(k, v)
			}
		}
		l.Msg(ev.Message)
	})
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
