package cluster

import "time"

// ContainerSpec is everything that goes into `docker run` for one replica.
// Its hash (SpecHash) is stored on each container as the drover.spec label:
// a container whose hash matches its service's is up to date.
//
// Fields are plain values with deterministic JSON so that the hash is stable
// across runs, machines and Go versions: maps marshal sorted, slices keep
// their compose order (order matters to docker for most of them).
type ContainerSpec struct {
	Image       string              `json:"image"`
	Command     []string            `json:"command"`    // nil = image default, [] = none
	Entrypoint  []string            `json:"entrypoint"` // nil = image default, [] = none
	Env         map[string]string   `json:"env,omitempty"`
	Labels      map[string]string   `json:"labels,omitempty"`
	Ports       []Port              `json:"ports,omitempty"`
	Mounts      []Mount             `json:"mounts,omitempty"`
	Networks    []NetworkAttachment `json:"networks,omitempty"`
	Healthcheck *Healthcheck        `json:"healthcheck,omitempty"`
	Restart     string              `json:"restart,omitempty"` // docker --restart value: no | always | unless-stopped | on-failure[:N]
	Limits      Resources           `json:"limits,omitempty"`

	User            string            `json:"user,omitempty"`
	WorkingDir      string            `json:"working_dir,omitempty"`
	Hostname        string            `json:"hostname,omitempty"`
	StopGracePeriod *time.Duration    `json:"stop_grace_period,omitempty"`
	StopSignal      string            `json:"stop_signal,omitempty"`
	CapAdd          []string          `json:"cap_add,omitempty"`
	CapDrop         []string          `json:"cap_drop,omitempty"`
	ReadOnly        bool              `json:"read_only,omitempty"`
	Init            *bool             `json:"init,omitempty"`
	Ulimits         map[string]Ulimit `json:"ulimits,omitempty"`
	Sysctls         map[string]string `json:"sysctls,omitempty"`
	ExtraHosts      []string          `json:"extra_hosts,omitempty"` // "host:ip"
	Logging         *Logging          `json:"logging,omitempty"`
	Tmpfs           []string          `json:"tmpfs,omitempty"` // "/path[:opts]"
	ShmSize         int64             `json:"shm_size,omitempty"`
	SecurityOpt     []string          `json:"security_opt,omitempty"`
	Privileged      bool              `json:"privileged,omitempty"`
	Devices         []string          `json:"devices,omitempty"` // "host:container[:perms]"

	// Files are the configs and secrets mounted into the container, by
	// target; each names the content version it needs on the host.
	Files []FileMount `json:"files,omitempty"`

	// ForceUpdate is bumped by `service update --force` to replace every
	// replica although nothing else changed (Swarm's ForceUpdate).
	ForceUpdate int `json:"force_update,omitempty"`
}

// Port is one published port.
type Port struct {
	Target    uint32 `json:"target"`
	Published uint32 `json:"published,omitempty"` // 0 = not published on the host
	Protocol  string `json:"protocol,omitempty"`  // tcp (default) | udp | sctp
	// Mode is "host" or "ingress" (compose default). An ingress port is
	// served by the routing mesh on every node (docs/networking.md): the
	// replica itself binds an ephemeral port on the host's loopback only.
	Mode   string `json:"mode,omitempty"`
	HostIP string `json:"host_ip,omitempty"`
}

// Port modes.
const (
	PortIngress = "ingress"
	PortHost    = "host"
)

// Ingress reports whether the port is published through the routing mesh.
func (p Port) Ingress() bool { return p.Published != 0 && p.Mode == PortIngress }

// Proto is the protocol, "tcp" when unset.
func (p Port) Proto() string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}

// Mount is a volume, bind mount or tmpfs.
type Mount struct {
	Type     string `json:"type"`             // volume | bind | tmpfs
	Source   string `json:"source,omitempty"` // docker volume name, or absolute host path
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Options that docker's --mount accepts beyond the above, as key=value
	// (e.g. "volume-nocopy", "bind-propagation=rshared", "tmpfs-size=64m").
	Options []string `json:"options,omitempty"`
}

// NetworkAttachment connects the container to a docker network.
type NetworkAttachment struct {
	Name    string   `json:"name"` // docker network name (already STACK_ prefixed)
	Aliases []string `json:"aliases,omitempty"`
}

// Healthcheck mirrors compose's healthcheck. Test is in compose form:
// ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"].
type Healthcheck struct {
	Disable     bool          `json:"disable,omitempty"`
	Test        []string      `json:"test,omitempty"`
	Interval    time.Duration `json:"interval,omitempty"`
	Timeout     time.Duration `json:"timeout,omitempty"`
	StartPeriod time.Duration `json:"start_period,omitempty"`
	Retries     int           `json:"retries,omitempty"`
	// StartInterval is the interval during StartPeriod (Engine API 1.44+,
	// Docker 25; older engines use Interval throughout).
	StartInterval time.Duration `json:"start_interval,omitempty"`
}

// Ulimit is one ulimit; Soft == Hard for the single-value form.
type Ulimit struct {
	Soft int64 `json:"soft"`
	Hard int64 `json:"hard"`
}

// Logging is a log driver and its options.
type Logging struct {
	Driver  string            `json:"driver,omitempty"`
	Options map[string]string `json:"options,omitempty"`
}
