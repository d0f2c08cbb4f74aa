package reconcile

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/internal/clock"
	"github.com/drover-sh/drover/internal/fanout"
)

// Connect returns the docker engine of a host (dialling it if needed).
type Connect func(ctx context.Context, host string) (*engine.Engine, error)

// Cluster is what a run talks to: the hosts by name and how to reach them.
type Cluster struct {
	Nodes    []cluster.Node // inventory + state settings; facts filled by Observe
	Connect  Connect
	Parallel int
	Report   Reporter
	// Clock is the time of rollouts and what they wait on: the poll
	// between inspections, the delay between batches, the monitor window,
	// the update timeout; nil = the wall clock.
	Clock clock.Clock
	// Mesh, when set, is the routing mesh: told before a running replica
	// is stopped (it takes the replica out of every proxy and drains it),
	// and once new replicas passed their health wait (it adds them).
	Mesh MeshHooks
}

// MeshHooks are the routing mesh's calls in an apply. They report their
// own problems: a proxy that cannot be told must not stop a rollout.
type MeshHooks interface {
	BeforeStop(ctx context.Context, r *cluster.Replica)
	Started(ctx context.Context)
	// ExtraHosts are the /etc/hosts entries a new replica of svc gets:
	// the names of the services it can reach through the mesh. They are
	// not part of the spec (its hash): adding a service replaces nothing.
	ExtraHosts(svc *cluster.Service) []string
}

func (c *Cluster) now() time.Time { return clock.Or(c.Clock).Now() }

// sleep waits d on the cluster's clock.
func (c *Cluster) sleep(ctx context.Context, d time.Duration) error {
	return clock.Or(c.Clock).Sleep(ctx, d)
}

// World is the observed state of every host.
type World struct {
	Hosts   []cluster.HostObservation // in Nodes order
	Obs     map[string]*engine.Observation
	Engines map[string]*engine.Engine // Ready hosts only
	Errors  map[string]error          // why a host is Down
}

// Ready returns the names of the hosts that answered.
func (w *World) Ready() []string {
	var out []string
	for _, h := range w.Hosts {
		if h.Node.Ready {
			out = append(out, h.Node.Name)
		}
	}
	return out
}

// Replicas returns every observed replica.
func (w *World) Replicas() []cluster.Replica {
	var out []cluster.Replica
	for _, h := range w.Hosts {
		out = append(out, h.Replicas...)
	}
	return out
}

// Observe reads every host in one round trip each, all in parallel. A host
// that cannot be reached is marked not Ready with the reason; that is not an
// error of Observe.
func (c *Cluster) Observe(ctx context.Context) *World {
	w := &World{
		Hosts:   make([]cluster.HostObservation, len(c.Nodes)),
		Obs:     map[string]*engine.Observation{},
		Engines: map[string]*engine.Engine{},
		Errors:  map[string]error{},
	}
	for i, n := range c.Nodes {
		w.Hosts[i].Node = n
		w.Hosts[i].Node.Ready = false
	}
	var mu sync.Mutex
	down := func(i int, err error) {
		h := &w.Hosts[i]
		h.Node.Reason = engine.Reason(err)
		w.Errors[h.Node.Name] = err
		c.report(Event{Kind: EventHostDown, Host: h.Node.Name, Message: h.Node.Reason, Err: err})
	}
	errs := fanout.Each(ctx, c.Parallel, c.Nodes, func(ctx context.Context, i int, n cluster.Node) error {
		eng, err := c.Connect(ctx, n.Name)
		var obs *engine.Observation
		if err == nil {
			obs, err = eng.Observe(ctx)
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			down(i, err)
			return nil
		}
		h := &w.Hosts[i]
		obs.Facts.Apply(&h.Node)
		h.Node.Ready = true
		h.Node.Reason = ""
		h.Replicas = obs.Replicas
		h.Networks = obs.Networks
		h.Volumes = obs.Volumes
		for _, id := range obs.Images {
			h.Images = append(h.Images, id)
		}
		sort.Strings(h.Images)
		w.Obs[n.Name] = obs
		w.Engines[n.Name] = eng
		return nil
	})
	for i, err := range errs {
		if err != nil { // not started: the run was stopped
			down(i, err)
		}
	}
	return w
}

func (c *Cluster) report(e Event) {
	if c.Report != nil {
		c.Report.Report(e)
	}
}
