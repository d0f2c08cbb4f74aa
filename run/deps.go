package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/internal/clock"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// Deps are what a run talks to, all passed in: the CLI builds them from
// the inventory and its flags, tests from fakes.
type Deps struct {
	// Store is the state. The CLI's is a state.Sealed: environment
	// values are opened as read and sealed as written there, not here.
	Store   state.Store
	Cluster string         // the inventory's cluster name
	Hosts   []cluster.Host // the inventory's hosts, in order
	// Connect reaches a host's docker engine; Parallel bounds the hosts
	// worked on at once.
	Connect  reconcile.Connect
	Parallel int
	// Poll is how often new replicas are inspected while a rollout waits
	// on them; 0 = reconcile's default.
	Poll     time.Duration
	Reporter Reporter
	// Clock is the time of history entries, plans and rollouts (what
	// their health waits, delays and update timeouts wait on); nil = the
	// wall clock.
	Clock clock.Clock
	// Holder says who takes the lock (owner, machine, pid, process
	// identity); the run fills in the command. User is the history's
	// user@machine.
	Holder      state.LockInfo
	User        string
	LockTimeout time.Duration
	// Platforms gives the image platforms placement needs: per image
	// reference, and per host and image. local says the local engine's
	// images will be pushed (deploy --push). Nil means none known.
	Platforms func(ctx context.Context, w *reconcile.World, services []*cluster.Service, local bool) (map[string][]cluster.Platform, map[string]map[string]cluster.Platform)
	// Mesh, when set, gives an applying run its routing mesh
	// (docs/networking.md): hooks around replicas that stop and start,
	// and the last step that puts every proxy in line with what runs.
	Mesh func(cl *reconcile.Cluster, services map[string]*cluster.Service) MeshRun
	// Files keeps the hosts' config and secret files; nil means none.
	Files Files
}

// MeshRun is one run's routing mesh.
type MeshRun interface {
	reconcile.MeshHooks
	// Sync computes every host's routes from w (observed again first when
	// observeAgain: the apply changed things) and puts them on the hosts.
	Sync(ctx context.Context, w *reconcile.World, observeAgain bool) error
	// Unfit lists, before the apply, the hosts whose proxy cannot be
	// made (no drover binary of their platform): Sync will leave them
	// out of the mesh and return these errors.
	Unfit(w *reconcile.World) []error
}

// Files delivers the config and secret files that replicas mount
// (hostfiles over the run's SSH connections).
type Files interface {
	// Deliver writes, before anything changes, the files that the plan's
	// new replicas mount on their hosts (and those of the generation a
	// failed rollout rolls back to), and repairs those of the running
	// replicas. It returns the hosts that hold files.
	Deliver(ctx context.Context, w *reconcile.World, p *planner.Plan, d reconcile.Desired, s *state.State) ([]string, error)
	// Prune removes, on those hosts, the files no container mounts any
	// more; a failure is reported, not returned (the next run prunes).
	Prune(ctx context.Context, w *reconcile.World, hosts []string)
}

func (d *Deps) now() time.Time { return clock.Or(d.Clock).Now() }

func (d *Deps) reporter() Reporter {
	if d.Reporter == nil {
		return discard{}
	}
	return d.Reporter
}

// lockPoll is how often a held lock is asked for again.
const lockPoll = 500 * time.Millisecond

// Lock takes the state lock of st for a run that may change things.
func (d *Deps) Lock(ctx context.Context, st state.Store, command string) (state.Lock, error) {
	info := d.Holder
	info.Command = command
	return state.LockWithRetry(ctx, st, info, d.LockTimeout, lockPoll)
}

// Read reads the state, or starts a new one (serial 0) when the store
// has none.
func (d *Deps) Read(ctx context.Context) (*state.State, error) {
	s, err := d.Store.Read(ctx)
	if errors.Is(err, state.ErrNoState) {
		return state.New(d.Cluster), nil
	}
	if err != nil {
		return nil, err
	}
	if err := s.Validate(d.Cluster); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Store.Describe(), err)
	}
	return s, nil
}

// Nodes is the scheduler's view of the inventory, with the node settings
// kept in the state (availability, label edits).
func Nodes(hosts []cluster.Host, s *state.State) []cluster.Node {
	out := make([]cluster.Node, 0, len(hosts))
	for _, h := range hosts {
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

// ClusterOf is the reconcile view of the hosts for a state.
func (d *Deps) ClusterOf(s *state.State) *reconcile.Cluster {
	return &reconcile.Cluster{Nodes: Nodes(d.Hosts, s), Connect: d.Connect, Parallel: d.Parallel, Report: d.reporter(), Clock: d.Clock}
}
