package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/state"
)

// store returns the state backend named by the inventory, behind the
// seal of its environment values.
func (e *runEnv) store() (*state.Sealed, error) {
	st, err := e.backend()
	if err != nil {
		return nil, err
	}
	return &state.Sealed{Store: st, Key: e.stateKey}, nil
}

// backend returns the state backend named by the inventory.
func (e *runEnv) backend() (state.Store, error) {
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

// deps are what a run below the CLI talks to, for the state in st.
func (e *runEnv) deps(st state.Store) run.Deps {
	owner, machine := whoami()
	holder := state.LockInfo{Owner: owner, Machine: machine, PID: os.Getpid()}
	// The host name is for people; the identity is what tells another
	// run whether this process still exists.
	state.LocalIdentity().Stamp(&holder)
	return run.Deps{
		Store:       st,
		Cluster:     e.inv.Cluster,
		Hosts:       e.inv.Hosts,
		Connect:     e.engineFor,
		Parallel:    e.parallel,
		Reporter:    &cliReporter{e: e},
		Holder:      holder,
		User:        owner,
		LockTimeout: e.lockTimeout,
		Platforms: func(ctx context.Context, w *reconcile.World, services []*cluster.Service, local bool) (map[string][]cluster.Platform, map[string]map[string]cluster.Platform) {
			return e.imagePlatforms(ctx, w, services, local, true)
		},
		Mesh: func(cl *reconcile.Cluster, services map[string]*cluster.Service) run.MeshRun {
			return e.newMesh(cl, services)
		},
		Files: hostFiles{e},
	}
}

// readState reads the state, or starts a new one.
func (e *runEnv) readState(ctx context.Context, st state.Store) (*state.State, error) {
	d := e.deps(st)
	return d.Read(ctx)
}

// lock takes the state lock for a run that may change things.
func (e *runEnv) lock(ctx context.Context, st state.Store, command string) (state.Lock, error) {
	d := e.deps(st)
	return d.Lock(ctx, st, command)
}

// cluster returns the reconcile view of the hosts.
func (e *runEnv) cluster(s *state.State) *reconcile.Cluster {
	d := e.deps(nil)
	return d.ClusterOf(s)
}

// change is one run that may change the cluster (run.Request): lock, read
// the state, let Mutate edit the desired state, observe, plan, show the
// plan, apply it and save the new state version.
type change = run.Request

// runResult is the JSON a change prints with --output json: one document
// on stdout in every outcome, errors and refusals included (docs/cli.md).
type runResult struct {
	run.Result
	// Error is the run's error as drover prints it on stderr, ExitCode the
	// process's exit code (docs/cli.md#exit-codes).
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code"`
}

// runChange carries out ch for the command c and, with --output json,
// prints its result whatever the outcome. Fields every changing command
// takes from its flags (--dry-run, --timeout) and the command line for the
// audit trail are filled in from c when unset; --detailed-exitcode turns
// the result into an exit code.
func (e *runEnv) runChange(c *cli.Context, ch change) error {
	if ch.Command == "" {
		ch.Command = commandLine(c)
	}
	ch.DryRun = ch.DryRun || c.Bool("dry-run")
	e.dryRun = e.dryRun || ch.DryRun
	if ch.Timeout == 0 {
		ch.Timeout = c.Duration("timeout")
	}
	var res *run.Result
	st, err := e.store()
	if err == nil {
		res, err = run.Execute(c.Context, e.deps(st), ch)
	}
	var pe *run.PendingError
	switch {
	case errors.As(err, &pe):
		err = withCode(ExitPending, err)
	case err == nil && res.Changed && c.Bool("detailed-exitcode"):
		err = withCode(ExitChanges, nil)
	}
	if e.output == "json" {
		out := runResult{ExitCode: exitCode(c.Context, err)}
		if res != nil {
			out.Result = *res
		}
		if err != nil {
			out.Error = err.Error()
		}
		writeJSON(e.stdio.Stdout, out)
	}
	return err
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

// plural is "1 replica", "2 replicas".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
