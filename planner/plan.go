package planner

import "github.com/drover-sh/drover/cluster"

// Kind says what an action does.
type Kind string

const (
	Create  Kind = "create"  // start a new container in the slot on Host
	Replace Kind = "replace" // stop Old and start a new container in its slot, on the same host
	Remove  Kind = "remove"  // stop and remove Old
	Keep    Kind = "keep"    // Old is fine as it is
)

// Plan is what Compute decided, as plain data: printable (Render), storable
// as JSON, comparable in tests.
type Plan struct {
	// Actions are ordered by service (services after those they depend on)
	// then by slot; within a slot, removes come before replaces and creates.
	Actions []Action `json:"actions"`
	// Networks and Volumes must exist on their host before the containers
	// placed there start.
	Networks []ResourceAction `json:"networks,omitempty"`
	Volumes  []ResourceAction `json:"volumes,omitempty"`
	Warnings []string         `json:"warnings,omitempty"`
	// Pending lists, per service, the replicas no node can take now; the
	// actions place everything else. Every later run tries them again.
	Pending []Pending `json:"pending,omitempty"`
	// Levels are the in-scope services (STACK_SERVICE) by dependency
	// level: apply rolls out one level after the other, the services of a
	// level side by side. Services of removed stacks have no level and go
	// first.
	Levels [][]string `json:"levels,omitempty"`
	// Rollouts are the rolling updates of the services that replace
	// running replicas: batches, stop-first or start-first, and the
	// policy they roll under.
	Rollouts []Rollout `json:"rollouts,omitempty"`
	// Services are the desired specs of the services the actions start or
	// stop containers of, by full name; Previous their previous
	// generation, for the automatic rollback. They hold environment
	// values, so they are never part of the plan's JSON: a plan file
	// carries them sealed (see command/planfile.go).
	Services map[string]*cluster.Service `json:"-"`
	Previous map[string]*cluster.Service `json:"-"`
}

// Level is a service's dependency level; 0 for a service with none.
func (p *Plan) Level(service string) int {
	for i, names := range p.Levels {
		for _, n := range names {
			if n == service {
				return i
			}
		}
	}
	return 0
}

// ResourceAction is a docker network or volume to create on a host.
type ResourceAction struct {
	Kind Kind   `json:"kind"` // always Create for now
	Host string `json:"host"`
	Name string `json:"name"`
	// Stack is the stack of the first service the plan starts there with
	// it: the created network or volume carries its label.
	Stack string `json:"stack,omitempty"`
	// Network or Volume is the definition to create (the one of the
	// plan's networks or volumes, a named one of the other).
	Network *cluster.Network `json:"network,omitempty"`
	Volume  *cluster.Volume  `json:"volume,omitempty"`
}

// Action is one container-level step.
type Action struct {
	Kind    Kind   `json:"kind"`
	Service string `json:"service"` // full name, STACK_SERVICE
	Stack   string `json:"stack"`
	Slot    string `json:"slot"` // "1", "2", … or the node name for global services
	// Host is where the new container goes (create, replace) or where Old is
	// (remove, keep). A replace never changes host.
	Host string `json:"host"`
	// From is set on a create that moves a slot off another host; the same
	// plan removes the old container there.
	From string           `json:"from,omitempty"`
	Old  *cluster.Replica `json:"old,omitempty"` // replace, remove, keep
	// Generation is the desired generation for create and replace, the old
	// container's for remove and keep.
	Generation int    `json:"generation"`
	SpecHash   string `json:"spec,omitempty"` // desired hash, for create and replace
	Reason     string `json:"reason"`
	// Changes lists what differs from the old container's spec (replace, or
	// a create that moves an outdated slot). Env vars and labels are named,
	// never valued.
	Changes []string `json:"changes,omitempty"`
}

// ContainerName is the docker name of the container this action starts,
// given a fresh short id chosen by the applier: STACK_SERVICE.SLOT.ID.
func (a *Action) ContainerName(id string) string {
	return a.Service + "." + a.Slot + "." + id
}

// Changes counts the steps that change something: non-keep actions plus
// networks and volumes to create.
func (p *Plan) Changes() int {
	n := len(p.Networks) + len(p.Volumes)
	for i := range p.Actions {
		if p.Actions[i].Kind != Keep {
			n++
		}
	}
	return n
}

// Empty reports whether applying the plan would change nothing.
func (p *Plan) Empty() bool { return p.Changes() == 0 }

// Converged reports whether the cluster already is as desired: nothing to
// change and nothing pending.
func (p *Plan) Converged() bool { return p.Empty() && len(p.Pending) == 0 }
