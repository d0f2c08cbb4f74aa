package cluster

import "time"

// Stack is one deployed unit: the services, networks and volumes of a set of
// compose files, deployed under one name (as with `docker stack deploy`).
type Stack struct {
	Name     string              `json:"name"`
	Services map[string]*Service `json:"services"` // keyed by the compose service name
	Networks map[string]Network  `json:"networks,omitempty"`
	Volumes  map[string]Volume   `json:"volumes,omitempty"`
	// Builds are the services' build: sections, by compose service name.
	// They are not kept in the state (only what they produced is).
	Builds map[string]*Build `json:"-"`
	// Objects are the configs and secrets the services use, by kind and
	// store name.
	Objects []ObjectRef `json:"objects,omitempty"`
}

// Network is a compose network. Each is realised as a bridge network on every
// host that runs a replica attached to it.
type Network struct {
	// Name is the docker network name: STACK_KEY, or the compose `name:`.
	Name     string            `json:"name"`
	Driver   string            `json:"driver,omitempty"` // "bridge" when empty
	External bool              `json:"external,omitempty"`
	Internal bool              `json:"internal,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Volume is a compose named volume, created on each host that needs it.
type Volume struct {
	// Name is the docker volume name: STACK_KEY, or the compose `name:`.
	Name       string            `json:"name"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	External   bool              `json:"external,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// Mode is how a service's replicas are counted.
type Mode string

const (
	Replicated Mode = "replicated" // a fixed number of slots
	Global     Mode = "global"     // one replica on every eligible node
)

// Service is the desired state of one service of a stack. Container holds
// everything that defines a replica's container (and so its spec hash); the
// other fields say how many replicas run, where, and how they are updated.
type Service struct {
	Stack string `json:"stack"`
	Name  string `json:"name"` // compose service name; the full name is Stack_Name
	// Generation increases each time the desired ContainerSpec or replica
	// count changes; it labels the containers created for it.
	Generation int           `json:"generation"`
	Container  ContainerSpec `json:"container"`

	Mode      Mode      `json:"mode"`
	Replicas  int       `json:"replicas"` // replicated mode only
	Placement Placement `json:"placement,omitempty"`
	// Reservations are what one replica needs free on a node to be placed there.
	Reservations Resources         `json:"reservations,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"` // deploy.labels
	DependsOn    []string          `json:"depends_on,omitempty"`

	Update   UpdatePolicy `json:"update_config"`
	Rollback UpdatePolicy `json:"rollback_config"`
	// UpdateTimeout bounds a whole rolling update (x-drover.update_timeout);
	// zero means the command line's --timeout or drover's default.
	UpdateTimeout time.Duration `json:"update_timeout,omitempty"`
}

// FullName is the service name as Swarm spells it: STACK_SERVICE.
func (s *Service) FullName() string { return s.Stack + "_" + s.Name }

// Placement is deploy.placement.
type Placement struct {
	// Constraints like "node.labels.zone == a"; all must hold.
	Constraints []string `json:"constraints,omitempty"`
	// Spread lists label paths ("node.labels.zone") from the `spread`
	// preferences, outermost first.
	Spread []string `json:"spread,omitempty"`
	// MaxReplicasPerNode limits replicas of this service on one node; 0 = no limit.
	MaxReplicasPerNode int `json:"max_replicas_per_node,omitempty"`
}

// Resources is an amount of CPU and memory.
type Resources struct {
	NanoCPUs    int64 `json:"nano_cpus,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	Pids        int64 `json:"pids,omitempty"` // limits only
}

// UpdatePolicy is deploy.update_config / deploy.rollback_config, with Swarm's
// defaults filled in by the loader.
type UpdatePolicy struct {
	Parallelism     int           `json:"parallelism"` // 0 = all at once
	Delay           time.Duration `json:"delay,omitempty"`
	Order           UpdateOrder   `json:"order"`
	Monitor         time.Duration `json:"monitor"` // default 5s
	FailureAction   FailureAction `json:"failure_action"`
	MaxFailureRatio float64       `json:"max_failure_ratio,omitempty"`
}

// DefaultUpdatePolicy is Swarm's default for update_config.
func DefaultUpdatePolicy() UpdatePolicy {
	return UpdatePolicy{Parallelism: 1, Order: StopFirst, Monitor: 5 * time.Second, FailureAction: FailurePause}
}

// DefaultRollbackPolicy is Swarm's default for rollback_config.
func DefaultRollbackPolicy() UpdatePolicy {
	return UpdatePolicy{Parallelism: 1, Order: StopFirst, Monitor: 5 * time.Second, FailureAction: FailurePause}
}
