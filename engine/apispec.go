package engine

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/strslice"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/drover-sh/drover/cluster"
)

// createRequest is a container create call in API types, plus the
// networks to connect before the container starts (API 1.41 takes one
// network at create).
type createRequest struct {
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
	Connect    []cluster.NetworkAttachment
}

// createRequestFor maps drover's spec onto the Engine API. The meaning is
// that of the docker CLI flags drover used before (so containers behave
// the same after an upgrade), except where the CLI could not say what
// compose says: a CMD healthcheck stays exec form, and environment values
// may hold newlines. apiVersion decides fields newer engines have.
func createRequestFor(c Container, apiVersion string) (*createRequest, error) {
	s := c.Spec
	cfg := &container.Config{
		Image:      s.Image,
		Labels:     map[string]string{},
		User:       s.User,
		WorkingDir: s.WorkingDir,
		Hostname:   s.Hostname,
		StopSignal: s.StopSignal,
	}
	hc := &container.HostConfig{
		CapAdd:         strslice.StrSlice(s.CapAdd),
		CapDrop:        strslice.StrSlice(s.CapDrop),
		ReadonlyRootfs: s.ReadOnly,
		ExtraHosts:     s.ExtraHosts,
		ShmSize:        s.ShmSize,
		SecurityOpt:    s.SecurityOpt,
		Privileged:     s.Privileged,
	}
	for k, v := range s.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range c.Labels {
		cfg.Labels[k] = v
	}
	for _, k := range sortedKeys(s.Env) {
		v := s.Env[k]
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("environment variable name %q is not valid", k)
		}
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("environment variable %s: a value cannot hold a NUL byte", k)
		}
		cfg.Env = append(cfg.Env, k+"="+v)
	}
	if len(s.Ports) > 0 {
		specs := make([]string, len(s.Ports))
		for i, p := range s.Ports {
			specs[i] = portSpec(p)
		}
		exposed, bindings, err := nat.ParsePortSpecs(specs)
		if err != nil {
			return nil, fmt.Errorf("ports: %w", err)
		}
		cfg.ExposedPorts, hc.PortBindings = exposed, bindings
	}
	for _, m := range s.Mounts {
		am, err := apiMount(m)
		if err != nil {
			return nil, err
		}
		hc.Mounts = append(hc.Mounts, am)
	}
	for _, f := range s.Files {
		if err := f.Check(); err != nil {
			return nil, err
		}
		am, err := apiMount(f.Mount(c.Cluster))
		if err != nil {
			return nil, err
		}
		hc.Mounts = append(hc.Mounts, am)
	}
	req := &createRequest{Config: cfg, Host: hc}
	if len(s.Networks) > 0 {
		n := s.Networks[0]
		hc.NetworkMode = container.NetworkMode(n.Name)
		req.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			n.Name: {Aliases: n.Aliases},
		}}
		req.Connect = s.Networks[1:]
	}
	if h := s.Healthcheck; h != nil {
		cfg.Healthcheck = healthConfig(h, apiVersion)
	}
	if s.Restart != "" {
		rp, err := restartPolicy(s.Restart)
		if err != nil {
			return nil, err
		}
		hc.RestartPolicy = rp
	}
	hc.NanoCPUs = s.Limits.NanoCPUs
	hc.Memory = s.Limits.MemoryBytes
	if s.Limits.Pids > 0 {
		p := s.Limits.Pids
		hc.PidsLimit = &p
	}
	if s.StopGracePeriod != nil {
		secs := int((*s.StopGracePeriod + time.Second - 1) / time.Second)
		cfg.StopTimeout = &secs
	}
	if s.Init != nil && *s.Init {
		t := true
		hc.Init = &t
	}
	for _, k := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[k]
		hc.Ulimits = append(hc.Ulimits, &units.Ulimit{Name: k, Soft: u.Soft, Hard: u.Hard})
	}
	if len(s.Sysctls) > 0 {
		hc.Sysctls = map[string]string{}
		for k, v := range s.Sysctls {
			hc.Sysctls[k] = v
		}
	}
	if s.Logging != nil {
		hc.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: s.Logging.Options}
	}
	if len(s.Tmpfs) > 0 {
		hc.Tmpfs = map[string]string{}
		for _, t := range s.Tmpfs {
			path, opts, _ := strings.Cut(t, ":")
			hc.Tmpfs[path] = opts
		}
	}
	for _, d := range s.Devices {
		dm, err := deviceMapping(d)
		if err != nil {
			return nil, err
		}
		hc.Devices = append(hc.Devices, dm)
	}

	cmd := s.Command
	if s.Entrypoint != nil {
		if len(s.Entrypoint) == 0 {
			// As `--entrypoint ""`: no entrypoint, not the image's.
			cfg.Entrypoint = strslice.StrSlice{""}
		} else {
			cfg.Entrypoint = strslice.StrSlice(s.Entrypoint)
		}
	}
	if len(cmd) > 0 {
		cfg.Cmd = strslice.StrSlice(cmd)
	}
	return req, nil
}

// healthConfig is compose's healthcheck as the engine takes it: CMD stays
// exec form (no shell needed in the image), CMD-SHELL and a plain string
// run with the image's shell, NONE or disable turn the image's check off.
func healthConfig(h *cluster.Healthcheck, apiVersion string) *container.HealthConfig {
	if h.Disable || (len(h.Test) > 0 && strings.EqualFold(h.Test[0], "NONE")) {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	out := &container.HealthConfig{
		Interval:    h.Interval,
		Timeout:     h.Timeout,
		StartPeriod: h.StartPeriod,
		Retries:     h.Retries,
	}
	if len(h.Test) > 0 {
		switch strings.ToUpper(h.Test[0]) {
		case "CMD":
			out.Test = append([]string{"CMD"}, h.Test[1:]...)
		case "CMD-SHELL":
			out.Test = []string{"CMD-SHELL", strings.Join(h.Test[1:], " ")}
		default: // a bare string in compose means CMD-SHELL
			out.Test = []string{"CMD-SHELL", strings.Join(h.Test, " ")}
		}
	}
	if h.StartInterval > 0 && versions.GreaterThanOrEqualTo(apiVersion, "1.44") {
		out.StartInterval = h.StartInterval
	}
	return out
}

func restartPolicy(s string) (container.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	rp := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	switch rp.Name {
	case container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if hasCount {
			return rp, fmt.Errorf("restart %q: only on-failure takes a count", s)
		}
	case container.RestartPolicyOnFailure:
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return rp, fmt.Errorf("restart %q: the count must be a number", s)
			}
			rp.MaximumRetryCount = n
		}
	default:
		return rp, fmt.Errorf("restart %q: must be no, always, unless-stopped or on-failure[:N]", s)
	}
	return rp, nil
}

// apiMount maps a mount and its --mount style options.
func apiMount(m cluster.Mount) (mount.Mount, error) {
	am := mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
	for _, o := range m.Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "volume-nocopy":
			vo(&am).NoCopy = v == "" || v == "true" || v == "1"
		case "volume-subpath":
			vo(&am).Subpath = v
		case "volume-label":
			lk, lv, _ := strings.Cut(v, "=")
			if vo(&am).Labels == nil {
				am.VolumeOptions.Labels = map[string]string{}
			}
			am.VolumeOptions.Labels[lk] = lv
		case "volume-driver":
			if vo(&am).DriverConfig == nil {
				am.VolumeOptions.DriverConfig = &mount.Driver{}
			}
			am.VolumeOptions.DriverConfig.Name = v
		case "bind-propagation":
			bo(&am).Propagation = mount.Propagation(v)
		case "bind-nonrecursive":
			bo(&am).NonRecursive = v == "" || v == "true" || v == "1"
		case "bind-recursive":
			switch v {
			case "enabled":
			case "disabled":
				bo(&am).NonRecursive = true
			case "writable":
				bo(&am).ReadOnlyNonRecursive = true
			case "readonly":
				bo(&am).ReadOnlyForceRecursive = true
			default:
				return am, fmt.Errorf("mount %s: bind-recursive %q: must be enabled, disabled, writable or readonly", m.Target, v)
			}
		case "tmpfs-size":
			n, err := units.RAMInBytes(v)
			if err != nil {
				return am, fmt.Errorf("mount %s: tmpfs-size %q: %w", m.Target, v, err)
			}
			to(&am).SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return am, fmt.Errorf("mount %s: tmpfs-mode %q: must be octal", m.Target, v)
			}
			to(&am).Mode = os.FileMode(n)
		case "consistency":
			am.Consistency = mount.Consistency(v)
		default:
			return am, fmt.Errorf("mount %s: unknown option %q", m.Target, o)
		}
	}
	return am, nil
}

func vo(m *mount.Mount) *mount.VolumeOptions {
	if m.VolumeOptions == nil {
		m.VolumeOptions = &mount.VolumeOptions{}
	}
	return m.VolumeOptions
}

func bo(m *mount.Mount) *mount.BindOptions {
	if m.BindOptions == nil {
		m.BindOptions = &mount.BindOptions{}
	}
	return m.BindOptions
}

func to(m *mount.Mount) *mount.TmpfsOptions {
	if m.TmpfsOptions == nil {
		m.TmpfsOptions = &mount.TmpfsOptions{}
	}
	return m.TmpfsOptions
}

// deviceMapping reads "host[:container[:perms]]" as `docker run --device`.
func deviceMapping(d string) (container.DeviceMapping, error) {
	parts := strings.Split(d, ":")
	dm := container.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
	switch len(parts) {
	case 1:
	case 2:
		if isDevicePerms(parts[1]) {
			dm.CgroupPermissions = parts[1]
		} else {
			dm.PathInContainer = parts[1]
		}
	case 3:
		if !isDevicePerms(parts[2]) {
			return dm, fmt.Errorf("device %q: permissions must be of r, w, m", d)
		}
		dm.PathInContainer, dm.CgroupPermissions = parts[1], parts[2]
	default:
		return dm, fmt.Errorf("device %q: use host[:container[:perms]]", d)
	}
	return dm, nil
}

func isDevicePerms(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == ""
}

// Container is one replica to create.
type Container struct {
	// Cluster names the host directory of the container's config and
	// secret files (cluster.FileMount.HostPath); Engine.Create sets it.
	Cluster string
	Name    string            // STACK_SERVICE.SLOT.ID
	Labels  map[string]string // drover's labels, merged over the spec's
	Spec    *cluster.ContainerSpec
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MeshBindIP is where the replicas of a routed port bind on their host.
const MeshBindIP = "127.0.0.1"

// portSpec writes a port as docker's port specs do, for nat.ParsePortSpecs:
// [ip:][published:]target/proto, IPv6 addresses in brackets.
func portSpec(p cluster.Port) string {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	target := strconv.FormatUint(uint64(p.Target), 10) + "/" + proto
	if p.Published == 0 || p.Ingress() {
		// Not published, or published by the routing mesh on every node:
		// docker picks a port on the loopback, which the host's proxy
		// opens on the cluster address while the replica is ready
		// (docs/networking.md).
		return MeshBindIP + "::" + target
	}
	pub := strconv.FormatUint(uint64(p.Published), 10)
	if p.HostIP != "" {
		host := p.HostIP
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return host + ":" + pub + ":" + target
	}
	return pub + ":" + target
}
