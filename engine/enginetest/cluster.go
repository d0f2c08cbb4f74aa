package enginetest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// Clock is a settable clock shared by hosts. The zero Clock, and a nil
// *Clock, follow the real time; Set or Advance freeze it.
type Clock struct {
	mu     sync.Mutex
	t      time.Time
	frozen bool
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		return time.Now()
	}
	return c.t
}

// Set freezes the clock at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t, c.frozen = t, true
}

// Advance moves the clock forward (freezing it at now+d if it ran).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.t, c.frozen = time.Now(), true
	}
	c.t = c.t.Add(d)
}

// Registry is the image registry hosts pull from.
type Registry struct {
	mu     sync.Mutex
	images map[string]string // normalized ref → ID
}

// NewRegistry returns a registry holding refs.
func NewRegistry(refs ...string) *Registry {
	r := &Registry{images: map[string]string{}}
	for _, ref := range refs {
		r.Add(ref)
	}
	return r
}

// Add publishes an image and returns its ID.
func (r *Registry) Add(ref string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := ImageID(ref)
	r.images[engine.NormalizeRef(ref)] = id
	return id
}

// lookup finds ref; repoKnown tells "unknown tag" from "unknown repository".
func (r *Registry) lookup(ref string) (id string, ok, repoKnown bool) {
	if r == nil {
		return "", false, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	norm := engine.NormalizeRef(ref)
	if id, ok := r.images[norm]; ok {
		return id, true, true
	}
	repo := repoOf(norm)
	for k := range r.images {
		if repoOf(k) == repo {
			return "", false, true
		}
	}
	return "", false, false
}

func repoOf(norm string) string {
	if i := strings.IndexByte(norm, '@'); i >= 0 {
		return norm[:i]
	}
	if i := strings.LastIndexByte(norm, ':'); i > strings.LastIndexByte(norm, '/') {
		return norm[:i]
	}
	return norm
}

// journal orders the mutations of all hosts of a Cluster.
type journal struct {
	mu   sync.Mutex
	list []Mutation
}

func (j *journal) add(m Mutation) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	m.Seq = len(j.list) + 1
	j.list = append(j.list, m)
	return m.Seq
}

// Cluster is a set of fake hosts named h1..hN sharing a clock, a registry
// and a mutation journal.
type Cluster struct {
	Name     string          // the drover.cluster label value engines use
	Sudo     bool            // streams run `sudo -n docker system dial-stdio`
	Timeouts engine.Timeouts // of the engines Connect returns
	DryRun   bool            // their API clients refuse every change
	Clock    *Clock
	Registry *Registry

	hosts   []*Host
	byName  map[string]*Host
	journal *journal
	mu      sync.Mutex
	apis    map[string]*engine.API // per host: the fake cluster is one run
}

// NewCluster returns n empty hosts h1..hN of cluster "test".
func NewCluster(n int) *Cluster {
	c := &Cluster{Name: "test", Clock: &Clock{}, Registry: NewRegistry(), byName: map[string]*Host{}, journal: &journal{},
		apis: map[string]*engine.API{}}
	for i := 1; i <= n; i++ {
		h := NewHost("h" + strconv.Itoa(i))
		h.Clock, h.Registry, h.journal = c.Clock, c.Registry, c.journal
		c.hosts = append(c.hosts, h)
		c.byName[h.Name] = h
	}
	return c
}

// Hosts returns the hosts in order.
func (c *Cluster) Hosts() []*Host { return c.hosts }

// Host returns a host by name; nil if there is none.
func (c *Cluster) Host(name string) *Host { return c.byName[name] }

// Engine returns an engine for a host, as Connect does, without checking
// that the host is up. Its API client is the host's one for the cluster's
// life (as a run keeps one per host): its streams dial the host with
// `docker system dial-stdio` (with sudo when Sudo is set), bounded by
// Timeouts as of the first call.
func (c *Cluster) Engine(name string) *engine.Engine {
	return &engine.Engine{Host: name, Cluster: c.Name, API: c.API(name)}
}

// API returns the host's Engine API client.
func (c *Cluster) API(name string) *engine.API {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a, ok := c.apis[name]; ok {
		return a
	}
	h := c.byName[name]
	argv := engine.DialStdioArgs(c.Sudo)
	a, err := engine.NewAPI(engine.APIConfig{Host: name, Timeouts: c.Timeouts, DryRun: c.DryRun, Log: zerolog.Nop(),
		Dial: func(ctx context.Context) (net.Conn, error) { return h.DialCommand(ctx, argv) }})
	if err != nil {
		panic(err) // NewAPI fails only on invalid client options, fixed here
	}
	c.apis[name] = a
	return a
}

// Close closes the hosts' API clients and stops their fake engines.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.apis {
		a.Close()
	}
	for _, h := range c.hosts {
		h.Close()
	}
	return nil
}

// Connect has the signature of reconcile.Connect: a host that is down
// fails to connect, as a dial would.
func (c *Cluster) Connect(ctx context.Context, name string) (*engine.Engine, error) {
	h := c.byName[name]
	if h == nil {
		return nil, fmt.Errorf("no host %q in the fake cluster", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h.Down() {
		return nil, h.dialError()
	}
	return c.Engine(name), nil
}

// Nodes returns the inventory view of the hosts: active workers (h1 a
// manager), not yet observed.
func (c *Cluster) Nodes() []cluster.Node {
	out := make([]cluster.Node, len(c.hosts))
	for i, h := range c.hosts {
		role := cluster.Worker
		if i == 0 {
			role = cluster.Manager
		}
		out[i] = cluster.Node{Name: h.Name, Address: h.Name + ".test", Role: role, Availability: cluster.Active, Labels: map[string]string{}}
	}
	return out
}

// AddImage makes an image present on every host.
func (c *Cluster) AddImage(ref string) string {
	var id string
	for _, h := range c.hosts {
		id = h.AddImage(ref)
	}
	return id
}

// SetBehaviour sets an image's behaviour on every host.
func (c *Cluster) SetBehaviour(ref string, b ImageBehaviour) {
	for _, h := range c.hosts {
		h.SetBehaviour(ref, b)
	}
}

// Mutations returns every successful state-changing call of every host,
// in the order they happened, as "HOST: ARGS" (see Mutation).
func (c *Cluster) Mutations() []string {
	log := c.Log()
	out := make([]string, len(log))
	for i, m := range log {
		out[i] = m.String()
	}
	return out
}

// Log returns the mutations of every host, in order.
func (c *Cluster) Log() []Mutation {
	c.journal.mu.Lock()
	defer c.journal.mu.Unlock()
	return append([]Mutation(nil), c.journal.list...)
}

// Calls sums the round trips of every host.
func (c *Cluster) Calls() int {
	n := 0
	for _, h := range c.hosts {
		n += h.Calls()
	}
	return n
}

// ResetCounters forgets every host's calls, commands and mutations.
func (c *Cluster) ResetCounters() {
	for _, h := range c.hosts {
		h.ResetCounters()
	}
	c.journal.mu.Lock()
	c.journal.list = nil
	c.journal.mu.Unlock()
}
