package cluster

import "time"

// Labels drover puts on every container it creates. Containers without
// LabelCluster set to the inventory's cluster name are never touched.
const (
	LabelCluster    = "drover.cluster"
	LabelStack      = "drover.stack"
	LabelService    = "drover.service" // full name, STACK_SERVICE
	LabelSlot       = "drover.slot"    // replica number, or the host name for global services
	LabelSpec       = "drover.spec"    // ContainerSpec.Hash()
	LabelGeneration = "drover.generation"
)

// Container states as docker reports them (State.Status).
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StateRestarting = "restarting"
	StatePaused     = "paused"
	StateExited     = "exited"
	StateDead       = "dead"
	StateRemoving   = "removing"
)

// Replica is one drover container observed on a host.
type Replica struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Host       string    `json:"host"`
	Stack      string    `json:"stack"`
	Service    string    `json:"service"` // full name, STACK_SERVICE
	Slot       string    `json:"slot"`    // "1", "2", … or a host name (global)
	SpecHash   string    `json:"spec"`
	Generation int       `json:"generation"`
	Image      string    `json:"image"`
	ImageID    string    `json:"image_id,omitempty"`
	State      string    `json:"state"`            // StateRunning, StateExited, …
	Health     string    `json:"health,omitempty"` // "", starting, healthy, unhealthy
	ExitCode   int       `json:"exit_code,omitempty"`
	Restarts   int       `json:"restarts,omitempty"`
	Created    time.Time `json:"created"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Ports are the host ports this container binds ("8080/tcp").
	Ports []string `json:"ports,omitempty"`
	// Bindings are the host ports docker gave the container, as it runs
	// (ephemeral ports included): the routing mesh's backends.
	Bindings []Binding `json:"bindings,omitempty"`
	// IPs are the container's addresses on its networks, sorted by
	// network name (the routing mesh's gates reach the replica there).
	IPs []string `json:"ips,omitempty"`
	// UnhealthySince is when the current run of failed health checks
	// began; zero unless Health is unhealthy.
	UnhealthySince time.Time `json:"unhealthy_since,omitzero"`
	// HealthOutput is what the last failed health check printed (its first
	// line, trimmed), for listings: why a replica is unhealthy.
	HealthOutput string `json:"health_output,omitempty"`
	// Runtime is how docker runs the container now, to tell drift.
	Runtime Runtime `json:"runtime,omitzero"`
	// Drift lists how the container differs from its spec although its
	// spec label matches (changed by hand, or its image tag moved).
	Drift []string `json:"drift,omitempty"`
	// Files are the host paths of the config and secret files the
	// container mounts (cluster.FilesDir/...), for keeping them on the
	// host while it exists.
	Files []string `json:"-"`
}

// Binding is one container port bound on the host.
type Binding struct {
	Target   uint32 `json:"target"`
	Protocol string `json:"protocol"`
	HostIP   string `json:"host_ip,omitempty"`
	HostPort uint32 `json:"host_port"`
}

// Runtime are the settings of a container that can change after it was
// created (docker update, docker pause, a re-tagged image).
type Runtime struct {
	RestartPolicy string `json:"restart_policy,omitempty"` // as --restart writes it
	NanoCPUs      int64  `json:"nano_cpus,omitempty"`
	MemoryBytes   int64  `json:"memory_bytes,omitempty"`
	PidsLimit     int64  `json:"pids_limit,omitempty"`
	Paused        bool   `json:"paused,omitempty"`
}

// Running reports whether the container is up (running or restarting by
// docker's restart policy).
func (r *Replica) Running() bool {
	return r.State == StateRunning || r.State == StateRestarting
}

// HostObservation is everything observed on one host in one round trip.
type HostObservation struct {
	Node     Node      `json:"node"`
	Replicas []Replica `json:"replicas"`
	Networks []string  `json:"networks,omitempty"` // names of docker networks present
	Volumes  []string  `json:"volumes,omitempty"`  // names of docker volumes present
	Images   []string  `json:"images,omitempty"`   // image IDs present (sha256:…)
}
