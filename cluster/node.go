package cluster

// Role is a host's role in the inventory.
type Role string

const (
	Manager Role = "manager"
	Worker  Role = "worker"
)

// Availability is a node's scheduling availability, as in Swarm.
type Availability string

const (
	Active Availability = "active" // replicas may be placed here
	Pause  Availability = "pause"  // existing replicas stay, no new ones
	Drain  Availability = "drain"  // replicas are moved away
)

// Node is a host as the scheduler sees it: inventory settings merged with the
// node settings of the state file and the facts observed over SSH.
type Node struct {
	Name         string            `json:"name"`
	Address      string            `json:"address"`
	Role         Role              `json:"role"`
	Labels       map[string]string `json:"labels,omitempty"`
	Availability Availability      `json:"availability"`

	// Ready is true when the host answered over SSH and its docker engine
	// works. A node that is not Ready is Down; Reason says why.
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`

	EngineVersion string `json:"engine_version,omitempty"`
	OS            string `json:"os,omitempty"`      // docker's OSType, e.g. linux
	Arch          string `json:"arch,omitempty"`    // Go-style, e.g. amd64
	Variant       string `json:"variant,omitempty"` // CPU variant, e.g. v7 on arm
	CPUs          int    `json:"cpus,omitempty"`
	MemoryBytes   int64  `json:"memory_bytes,omitempty"`
}
