package compose

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover-sh/drover/cluster"
)

const (
	overlayWarning = "overlay networks are per-host bridges in drover: across hosts, a service is reached by its name on the ports it declares, through the routing mesh (docs/networking.md), not container to container"
)

// converter maps one loaded compose-go project onto a cluster.Stack.
type converter struct {
	stack   string // drover's stack name
	project string // the normalised name compose-go was given
	p       *types.Project
	raws    []rawFile
	sources []sourceFile // to place a service's problems at their line

	warnings []Warning
	warned   map[string]bool // service/key already warned about
	// networks and volumes referenced by the services (compose keys)
	usedNetworks map[string]bool
	usedVolumes  map[string]bool
	// withBuild maps build: sections (--build); builds holds them.
	withBuild bool
	builds    map[string]*cluster.Build
	env       types.Mapping
	// objects are the configs and secrets the services use, by kind and
	// compose key.
	objects map[objectKey]cluster.ObjectRef
}

func (c *converter) convert() (*cluster.Stack, error) {
	c.usedNetworks = map[string]bool{}
	c.usedVolumes = map[string]bool{}
	st := &cluster.Stack{
		Name:     c.stack,
		Services: map[string]*cluster.Service{},
	}

	if len(c.p.Jobs) > 0 {
		c.warnTop("jobs", "key jobs is not supported by drover (ignored)")
	}
	if len(c.p.Models) > 0 {
		c.warnTop("models", "key models is not supported by drover (ignored)")
	}

	// Every service's problems at once, each at its line.
	var problems []Problem
	for _, name := range c.p.ServiceNames() {
		s := c.p.Services[name]
		if !nameRE.MatchString(name) {
			problems = append(problems, c.place(name, "", fmt.Sprintf("invalid service name %q: must match [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)))
			continue
		}
		for _, f := range unsupportedKeys(s, serviceRules) {
			c.warnService(name, f.key, f.note)
		}
		svc, err := c.service(s)
		if err != nil {
			problems = append(problems, c.placeErr(name, err))
			continue
		}
		st.Services[name] = svc
		if b := c.builds[name]; b != nil {
			if st.Builds == nil {
				st.Builds = map[string]*cluster.Build{}
			}
			st.Builds[name] = b
		}
	}
	if len(problems) > 0 {
		c.sortProblems(problems)
		return nil, &ProblemsError{Problems: problems}
	}
	if err := checkPorts(st); err != nil {
		return nil, err
	}

	for _, key := range sortedKeys(c.usedNetworks) {
		n, err := c.network(key)
		if err != nil {
			return nil, err
		}
		if st.Networks == nil {
			st.Networks = map[string]cluster.Network{}
		}
		st.Networks[key] = n
	}
	for _, key := range sortedKeys(c.usedVolumes) {
		if st.Volumes == nil {
			st.Volumes = map[string]cluster.Volume{}
		}
		st.Volumes[key] = c.volume(key)
	}
	var err error
	if st.Objects, err = c.usedObjects(); err != nil {
		return nil, err
	}
	return st, nil
}

func (c *converter) warnService(service, key, note string) {
	if c.warned == nil {
		c.warned = map[string]bool{}
	}
	if c.warned[service+"/"+key] {
		return // one warning per key
	}
	c.warned[service+"/"+key] = true
	msg := "key " + key + " is not supported by drover (ignored)"
	if note != "" {
		msg += ": " + note
	}
	c.warnings = append(c.warnings, Warning{
		File:    c.serviceFile(service, key),
		Service: service,
		Key:     key,
		Message: msg,
	})
}

func (c *converter) warnTop(key, msg string) {
	c.warnings = append(c.warnings, Warning{File: fileOf(c.raws, strings.Split(key, ".")...), Key: key, Message: msg})
}

// serviceFile names the file that sets the service's key: the full path if
// some file has it literally, else its first element, else the service.
func (c *converter) serviceFile(service, key string) string {
	parts := strings.Split(key, ".")
	for _, sub := range [][]string{parts, parts[:1], nil} {
		path := append([]string{"services", service}, sub...)
		for i := len(c.raws) - 1; i >= 0; i-- {
			if c.raws[i].has(path...) {
				return c.raws[i].name
			}
		}
	}
	return fileOf(c.raws)
}

// resourceName is the docker name of a top-level network or volume: its
// `name:`, or STACK_KEY. compose-go has already filled Name in, with its
// (normalised) project name in place of the stack's.
func (c *converter) resourceName(key, name string, external bool) string {
	if external {
		if name == "" {
			return key
		}
		return name
	}
	if name == "" || name == c.project+"_"+key {
		return c.stack + "_" + key
	}
	return name
}

func (c *converter) networkName(key string) string {
	n := c.p.Networks[key]
	return c.resourceName(key, n.Name, bool(n.External))
}

func (c *converter) network(key string) (cluster.Network, error) {
	n, ok := c.p.Networks[key]
	if !ok && key != "default" {
		return cluster.Network{}, fmt.Errorf("undefined network %s", key)
	}
	for _, f := range unsupportedKeys(n, networkRules) {
		msg := "network " + key + ": key " + f.key + " is not supported by drover (ignored)"
		if f.note != "" {
			msg += ": " + f.note
		}
		c.warnings = append(c.warnings, Warning{
			File:    fileOf(c.raws, "networks", key, f.key),
			Key:     "networks." + key + "." + f.key,
			Message: msg,
		})
	}
	out := cluster.Network{
		Name:     c.networkName(key),
		Driver:   n.Driver,
		External: bool(n.External),
		Internal: n.Internal,
		Labels:   copyMap(n.Labels),
	}
	switch {
	case out.External || out.Driver == "" || out.Driver == "bridge":
	case out.Driver == "overlay":
		out.Driver = "bridge"
		c.warnings = append(c.warnings, Warning{
			File:    fileOf(c.raws, "networks", key, "driver"),
			Key:     "networks." + key + ".driver",
			Message: "network " + key + ": " + overlayWarning,
		})
	default:
		c.warnings = append(c.warnings, Warning{
			File:    fileOf(c.raws, "networks", key, "driver"),
			Key:     "networks." + key + ".driver",
			Message: "network " + key + ": driver " + out.Driver + " is not supported: drover creates a bridge network",
		})
		out.Driver = "bridge"
	}
	return out, nil
}

func (c *converter) volume(key string) cluster.Volume {
	v := c.p.Volumes[key]
	// volumeRules has every key of types.VolumeConfig: nothing to report
	// today, but a key compose-go adds will be.
	for _, f := range unsupportedKeys(v, volumeRules) {
		c.warnings = append(c.warnings, Warning{
			File:    fileOf(c.raws, "volumes", key, f.key),
			Key:     "volumes." + key + "." + f.key,
			Message: "volume " + key + ": key " + f.key + " is not supported by drover (ignored)",
		})
	}
	return cluster.Volume{
		Name:       c.resourceName(key, v.Name, bool(v.External)),
		Driver:     v.Driver,
		DriverOpts: copyMap(v.DriverOpts),
		External:   bool(v.External),
		Labels:     copyMap(v.Labels),
	}
}

func (c *converter) service(s types.ServiceConfig) (*cluster.Service, error) {
	x, err := xDrover(s.Extensions)
	if err != nil {
		return nil, err
	}
	b, err := c.build(s, x.buildOn)
	if err != nil {
		return nil, err
	}
	image := s.Image
	if b != nil {
		// The tag is the built image's, set once it is built.
		image = b.Repository
		if c.builds == nil {
			c.builds = map[string]*cluster.Build{}
		}
		c.builds[s.Name] = b
	}
	if image == "" {
		return nil, errors.New(strings.TrimPrefix(noImage(s.Name), "service "+s.Name+": "))
	}
	svc := &cluster.Service{
		Stack:     c.stack,
		Name:      s.Name,
		DependsOn: sortedKeys(s.DependsOn),
		Update:    cluster.DefaultUpdatePolicy(),
		Rollback:  cluster.DefaultRollbackPolicy(),
	}
	ct := &svc.Container
	ct.Image = image
	if s.Command != nil {
		ct.Command = append([]string{}, s.Command...)
	}
	if s.Entrypoint != nil {
		ct.Entrypoint = append([]string{}, s.Entrypoint...)
	}
	// compose-go has merged env_file into Environment and looked the
	// value-less variables up in the environment; those still without a
	// value are not set in the container, as with docker.
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		if ct.Env == nil {
			ct.Env = map[string]string{}
		}
		ct.Env[k] = *v
	}
	ct.Labels = copyMap(s.Labels)

	if ct.Ports, err = c.ports(s); err != nil {
		return nil, err
	}
	if ct.Mounts, err = c.mounts(s); err != nil {
		return nil, err
	}
	if ct.Files, err = c.files(s); err != nil {
		return nil, err
	}
	ct.Networks = c.attachments(s)
	if ct.Healthcheck, err = healthcheck(s.HealthCheck); err != nil {
		return nil, err
	}
	if ct.Restart, err = c.restart(s); err != nil {
		return nil, err
	}

	var deploy types.DeployConfig
	if s.Deploy != nil {
		deploy = *s.Deploy
	}
	// deploy.resources; the service-level cpus, mem_limit, pids_limit and
	// mem_reservation stand in when unset (compose-go rejects distinct values).
	var limits, reservations types.Resource
	if deploy.Resources.Limits != nil {
		limits = *deploy.Resources.Limits
	}
	if deploy.Resources.Reservations != nil {
		reservations = *deploy.Resources.Reservations
	}
	if limits.NanoCPUs == 0 {
		limits.NanoCPUs = types.NanoCPUs(s.CPUS)
	}
	if limits.MemoryBytes == 0 {
		limits.MemoryBytes = s.MemLimit
	}
	if limits.Pids == 0 {
		limits.Pids = s.PidsLimit
	}
	if reservations.MemoryBytes == 0 {
		reservations.MemoryBytes = s.MemReservation
	}
	ct.Limits = cluster.Resources{
		NanoCPUs:    nanoCPUs(float32(limits.NanoCPUs)),
		MemoryBytes: int64(limits.MemoryBytes),
		Pids:        limits.Pids,
	}
	svc.Reservations = cluster.Resources{
		NanoCPUs:    nanoCPUs(float32(reservations.NanoCPUs)),
		MemoryBytes: int64(reservations.MemoryBytes),
	}
	if ct.Limits.NanoCPUs < 0 || ct.Limits.MemoryBytes < 0 || ct.Limits.Pids < 0 && ct.Limits.Pids != -1 ||
		svc.Reservations.NanoCPUs < 0 || svc.Reservations.MemoryBytes < 0 {
		return nil, errors.New("deploy.resources: negative cpus, memory or pids")
	}

	ct.User = s.User
	ct.WorkingDir = s.WorkingDir
	ct.Hostname = s.Hostname
	if s.StopGracePeriod != nil {
		d := time.Duration(*s.StopGracePeriod)
		ct.StopGracePeriod = &d
	}
	ct.StopSignal = s.StopSignal
	ct.CapAdd = copySlice(s.CapAdd)
	ct.CapDrop = copySlice(s.CapDrop)
	ct.ReadOnly = s.ReadOnly
	if s.Init != nil {
		b := *s.Init
		ct.Init = &b
	}
	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		if u == nil {
			continue
		}
		if ct.Ulimits == nil {
			ct.Ulimits = map[string]cluster.Ulimit{}
		}
		if u.Single != 0 {
			ct.Ulimits[name] = cluster.Ulimit{Soft: int64(u.Single), Hard: int64(u.Single)}
		} else {
			ct.Ulimits[name] = cluster.Ulimit{Soft: int64(u.Soft), Hard: int64(u.Hard)}
		}
	}
	ct.Sysctls = copyMap(s.Sysctls)
	for _, host := range sortedKeys(s.ExtraHosts) {
		for _, ip := range s.ExtraHosts[host] {
			ct.ExtraHosts = append(ct.ExtraHosts, host+":"+ip)
		}
	}
	if s.Logging != nil && (s.Logging.Driver != "" || len(s.Logging.Options) > 0) {
		ct.Logging = &cluster.Logging{Driver: s.Logging.Driver, Options: copyMap(s.Logging.Options)}
	}
	ct.Tmpfs = copySlice(s.Tmpfs)
	ct.ShmSize = int64(s.ShmSize)
	ct.SecurityOpt = copySlice(s.SecurityOpt)
	ct.Privileged = s.Privileged
	for _, d := range s.Devices {
		spec := d.Source + ":" + orDefault(d.Target, d.Source)
		if d.Permissions != "" {
			spec += ":" + d.Permissions
		}
		ct.Devices = append(ct.Devices, spec)
	}

	// Replication.
	switch deploy.Mode {
	case "", "replicated":
		svc.Mode = cluster.Replicated
		svc.Replicas = 1
		switch {
		case deploy.Replicas != nil:
			svc.Replicas = *deploy.Replicas
		case s.Scale != nil:
			svc.Replicas = *s.Scale
		}
		if svc.Replicas < 0 {
			return nil, fmt.Errorf("deploy.replicas must not be negative (%d)", svc.Replicas)
		}
	case "global":
		svc.Mode = cluster.Global
		if deploy.Replicas != nil || s.Scale != nil {
			return nil, errors.New("deploy.replicas can only be used with mode replicated")
		}
	case "replicated-job", "global-job":
		return nil, fmt.Errorf("deploy.mode %s is not supported by drover (jobs are not supported)", deploy.Mode)
	default:
		return nil, fmt.Errorf("deploy.mode: unknown mode %q (replicated or global)%s", deploy.Mode, didYouMean(deploy.Mode, "replicated", "global"))
	}
	svc.Labels = copyMap(deploy.Labels)
	svc.Placement = cluster.Placement{
		Constraints:        copySlice(deploy.Placement.Constraints),
		MaxReplicasPerNode: int(deploy.Placement.MaxReplicas),
	}
	for _, pref := range deploy.Placement.Preferences {
		if pref.Spread != "" {
			svc.Placement.Spread = append(svc.Placement.Spread, pref.Spread)
		}
	}
	if svc.Update, err = updatePolicy("deploy.update_config", deploy.UpdateConfig, cluster.DefaultUpdatePolicy(), true); err != nil {
		return nil, err
	}
	if svc.Rollback, err = updatePolicy("deploy.rollback_config", deploy.RollbackConfig, cluster.DefaultRollbackPolicy(), false); err != nil {
		return nil, err
	}
	svc.UpdateTimeout = x.updateTimeout
	return svc, nil
}

// ports maps ports; compose-go has already expanded the short syntax and
// ranges into one entry per port, with tcp and ingress as defaults.
func (c *converter) ports(s types.ServiceConfig) ([]cluster.Port, error) {
	var out []cluster.Port
	for _, p := range s.Ports {
		port := cluster.Port{
			Target:   p.Target,
			Protocol: orDefault(p.Protocol, "tcp"),
			Mode:     orDefault(p.Mode, "ingress"),
			HostIP:   p.HostIP,
		}
		if p.Target == 0 {
			return nil, errors.New("ports: target port is required")
		}
		switch port.Mode {
		case "ingress", "host":
		default:
			return nil, fmt.Errorf("ports: unknown mode %q (ingress or host)", p.Mode)
		}
		switch port.Protocol {
		case "tcp", "udp", "sctp":
		default:
			return nil, fmt.Errorf("ports: unknown protocol %q (tcp, udp or sctp)", p.Protocol)
		}
		if p.Published != "" {
			if strings.Contains(p.Published, "-") {
				return nil, fmt.Errorf("ports: published range %s for the single target port %d is not supported: publish one port per target", p.Published, p.Target)
			}
			n, err := strconv.ParseUint(p.Published, 10, 16)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("ports: invalid published port %q", p.Published)
			}
			port.Published = uint32(n)
		}
		out = append(out, port)
	}
	return out, nil
}

// mounts maps volumes: named volumes to their docker names, binds to
// absolute host paths (compose-go resolves them against the working
// directory), tmpfs.
func (c *converter) mounts(s types.ServiceConfig) ([]cluster.Mount, error) {
	var out []cluster.Mount
	for _, v := range s.Volumes {
		m := cluster.Mount{Type: v.Type, Target: v.Target, ReadOnly: v.ReadOnly}
		if v.Target == "" {
			return nil, errors.New("volumes: target is required")
		}
		switch v.Type {
		case types.VolumeTypeVolume:
			if v.Source != "" { // else an anonymous volume
				if _, ok := c.p.Volumes[v.Source]; !ok {
					return nil, fmt.Errorf("volumes: undefined volume %s", v.Source)
				}
				c.usedVolumes[v.Source] = true
				vol := c.p.Volumes[v.Source]
				m.Source = c.resourceName(v.Source, vol.Name, bool(vol.External))
			}
			if v.Volume != nil {
				if v.Volume.NoCopy {
					m.Options = append(m.Options, "volume-nocopy")
				}
				if v.Volume.Subpath != "" {
					m.Options = append(m.Options, "volume-subpath="+v.Volume.Subpath)
				}
				for _, k := range sortedKeys(v.Volume.Labels) {
					m.Options = append(m.Options, "volume-label="+k+"="+v.Volume.Labels[k])
				}
			}
		case types.VolumeTypeBind:
			if v.Source == "" {
				return nil, fmt.Errorf("volumes: bind mount on %s has no source", v.Target)
			}
			if !filepath.IsAbs(v.Source) {
				return nil, fmt.Errorf("volumes: bind mount source %s is not an absolute path", v.Source)
			}
			m.Source = filepath.Clean(v.Source)
			if v.Bind != nil {
				if v.Bind.Propagation != "" {
					m.Options = append(m.Options, "bind-propagation="+v.Bind.Propagation)
				}
				if v.Bind.Recursive != "" {
					m.Options = append(m.Options, "bind-recursive="+v.Bind.Recursive)
				}
			}
		case types.VolumeTypeTmpfs:
			if v.Tmpfs != nil {
				if v.Tmpfs.Size > 0 {
					m.Options = append(m.Options, "tmpfs-size="+strconv.FormatInt(int64(v.Tmpfs.Size), 10))
				}
				if v.Tmpfs.Mode != 0 {
					m.Options = append(m.Options, "tmpfs-mode="+strconv.FormatUint(uint64(v.Tmpfs.Mode), 8))
				}
			}
		default:
			c.warnService(s.Name, "volumes", "volume type "+v.Type+" is not supported (mount on "+v.Target+" ignored)")
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// attachments lists the service's networks, by priority then name (compose
// gives no order), with their docker names. A service that names none is on
// the stack's default network.
func (c *converter) attachments(s types.ServiceConfig) []cluster.NetworkAttachment {
	names := s.NetworksByPriority()
	if len(names) == 0 {
		// network_mode (warned about) or provider: compose-go attached
		// nothing; docker stack would put the service on the default network.
		names = []string{"default"}
		if _, ok := c.p.Networks["default"]; !ok {
			if c.p.Networks == nil {
				c.p.Networks = types.Networks{}
			}
			c.p.Networks["default"] = types.NetworkConfig{Name: c.project + "_default"}
		}
	}
	var out []cluster.NetworkAttachment
	for _, key := range names {
		c.usedNetworks[key] = true
		// As on a Swarm stack network, the service's name resolves to its
		// replicas (here: those on the same host, per-host bridges).
		a := cluster.NetworkAttachment{Name: c.networkName(key), Aliases: []string{s.Name}}
		if cfg := s.Networks[key]; cfg != nil {
			for _, al := range cfg.Aliases {
				if al != s.Name {
					a.Aliases = append(a.Aliases, al)
				}
			}
		}
		out = append(out, a)
	}
	return out
}

// healthcheck maps healthcheck. Test stays in compose form (["CMD", args…],
// ["CMD-SHELL", "…"], ["NONE"]): the Engine API takes it as it is, so a CMD
// healthcheck needs no shell in the image.
func healthcheck(h *types.HealthCheckConfig) (*cluster.Healthcheck, error) {
	if h == nil {
		return nil, nil
	}
	test := []string(h.Test)
	if h.Disable || isNoneTest(test) {
		return &cluster.Healthcheck{Disable: true}, nil
	}
	if len(test) > 0 {
		switch test[0] {
		case "CMD", "CMD-SHELL":
			if len(test) < 2 {
				return nil, fmt.Errorf("healthcheck.test: %s needs a command", test[0])
			}
		default:
			return nil, fmt.Errorf("healthcheck.test must start with CMD, CMD-SHELL or NONE, or be a string (got %q)", test[0])
		}
	}
	out := &cluster.Healthcheck{Test: copySlice(test)}
	if h.Interval != nil {
		out.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		out.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		out.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.StartInterval != nil {
		out.StartInterval = time.Duration(*h.StartInterval)
	}
	if h.Retries != nil {
		out.Retries = int(*h.Retries)
	}
	return out, nil
}

// isNoneTest: ["NONE"], or `test: NONE` which compose-go reads as a shell command.
func isNoneTest(test []string) bool {
	return len(test) == 1 && test[0] == "NONE" ||
		len(test) == 2 && test[0] == "CMD-SHELL" && strings.TrimSpace(test[1]) == "NONE"
}

// restart maps deploy.restart_policy, or else compose's restart, onto
// docker's --restart. Swarm's default (condition any) is unless-stopped: the
// container comes back after a crash or a reboot, but not after drover
// stopped it.
func (c *converter) restart(s types.ServiceConfig) (string, error) {
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		if s.Restart != "" {
			c.warnings = append(c.warnings, Warning{
				File:    c.serviceFile(s.Name, "restart"),
				Service: s.Name,
				Key:     "restart",
				Message: "key restart is ignored: deploy.restart_policy takes precedence",
			})
		}
		switch rp.Condition {
		case "", "any":
			if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
				c.warnings = append(c.warnings, Warning{
					File:    c.serviceFile(s.Name, "deploy.restart_policy.max_attempts"),
					Service: s.Name,
					Key:     "deploy.restart_policy.max_attempts",
					Message: "key deploy.restart_policy.max_attempts is only honoured with condition on-failure (ignored)",
				})
			}
			return "unless-stopped", nil
		case "on-failure":
			if rp.MaxAttempts != nil && *rp.MaxAttempts > 0 {
				return fmt.Sprintf("on-failure:%d", *rp.MaxAttempts), nil
			}
			return "on-failure", nil
		case "none":
			return "no", nil
		default:
			return "", fmt.Errorf("deploy.restart_policy.condition: unknown condition %q (none, on-failure or any)", rp.Condition)
		}
	}
	switch r := s.Restart; {
	case r == "":
		return "unless-stopped", nil
	case r == "no" || r == "always" || r == "unless-stopped" || r == "on-failure":
		return r, nil
	case strings.HasPrefix(r, "on-failure:"):
		n, err := strconv.Atoi(strings.TrimPrefix(r, "on-failure:"))
		if err != nil || n < 0 {
			return "", fmt.Errorf("restart: invalid %q (on-failure:N wants a count)", r)
		}
		return r, nil
	default:
		return "", fmt.Errorf("restart: unknown policy %q (no, always, on-failure[:N] or unless-stopped)", r)
	}
}

// updatePolicy fills Swarm's defaults into an update_config or
// rollback_config. Parallelism is a pointer in compose-go: unset means the
// default 1, an explicit 0 means all at once.
func updatePolicy(key string, u *types.UpdateConfig, def cluster.UpdatePolicy, update bool) (cluster.UpdatePolicy, error) {
	p := def
	if u == nil {
		return p, nil
	}
	if u.Parallelism != nil {
		p.Parallelism = int(*u.Parallelism)
	}
	p.Delay = time.Duration(u.Delay)
	if u.Monitor != 0 {
		p.Monitor = time.Duration(u.Monitor)
	}
	if u.Order != "" {
		p.Order = cluster.UpdateOrder(u.Order)
	}
	if u.FailureAction != "" {
		p.FailureAction = cluster.FailureAction(u.FailureAction)
	}
	p.MaxFailureRatio = float32To64(u.MaxFailureRatio)

	if !p.Order.Known() {
		return p, fmt.Errorf("%s.order: unknown order %q (stop-first or start-first)%s", key, p.Order, didYouMean(string(p.Order), spellings(cluster.UpdateOrders())...))
	}
	if options := spellings(cluster.FailureActions(update)); !slices.Contains(options, string(p.FailureAction)) {
		allowed := "pause or continue"
		if update {
			allowed = "pause, continue or rollback"
		}
		return p, fmt.Errorf("%s.failure_action: unknown action %q (%s)%s", key, p.FailureAction, allowed, didYouMean(string(p.FailureAction), options...))
	}
	if p.MaxFailureRatio < 0 || p.MaxFailureRatio > 1 {
		return p, fmt.Errorf("%s.max_failure_ratio must be between 0 and 1", key)
	}
	if p.Delay < 0 || p.Monitor < 0 {
		return p, fmt.Errorf("%s: negative delay or monitor", key)
	}
	return p, nil
}

// xDroverService is a service's `x-drover:` extension.
type xDroverService struct {
	updateTimeout time.Duration
	buildOn       string // a host of the inventory, checked by the caller
}

// xDrover reads the service's `x-drover:` extension.
func xDrover(ext types.Extensions) (xDroverService, error) {
	var x xDroverService
	raw, ok := ext["x-drover"]
	if !ok || raw == nil {
		return x, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return x, fmt.Errorf("x-drover must be a mapping, not %T", raw)
	}
	for _, k := range sortedKeys(m) {
		switch k {
		case "update_timeout":
			s, ok := m[k].(string)
			if !ok {
				return x, fmt.Errorf("x-drover.update_timeout must be a duration like 10m, not %v", m[k])
			}
			d, err := time.ParseDuration(s)
			if err != nil || d < 0 {
				return x, fmt.Errorf("x-drover.update_timeout: invalid duration %q", s)
			}
			x.updateTimeout = d
		case "build_on":
			s, ok := m[k].(string)
			if !ok || s == "" {
				return x, fmt.Errorf("x-drover.build_on must be the name of a host of the inventory, not %v", m[k])
			}
			x.buildOn = s
		default:
			return x, fmt.Errorf("x-drover: unknown key %q (known: build_on, update_timeout)", k)
		}
	}
	return x, nil
}

// checkPorts fails when two services, or one twice, publish the same host
// port and protocol (on the same or an unspecified host IP): their replicas
// could not share a host.
func checkPorts(st *cluster.Stack) error {
	type use struct {
		service string
		hostIP  string
	}
	used := map[string][]use{}
	for _, name := range sortedKeys(st.Services) {
		for _, p := range st.Services[name].Container.Ports {
			if p.Published == 0 {
				continue
			}
			key := fmt.Sprintf("%d/%s", p.Published, p.Protocol)
			for _, u := range used[key] {
				if u.hostIP == p.HostIP || isAnyIP(u.hostIP) || isAnyIP(p.HostIP) {
					if u.service == name {
						return fmt.Errorf("service %s publishes port %s twice", name, key)
					}
					return fmt.Errorf("services %s and %s both publish port %s", u.service, name, key)
				}
			}
			used[key] = append(used[key], use{name, p.HostIP})
		}
	}
	return nil
}

func isAnyIP(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// nanoCPUs converts compose-go's float32 CPU count exactly as written:
// float32(0.1) is 0.100000001…, which would make 100000001 nano CPUs.
func nanoCPUs(f float32) int64 {
	return int64(float32To64(f)*1e9 + 0.5)
}

func float32To64(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	if len(m) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

func copyMap[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(map[string]string(m))
}

func copySlice[S ~[]string](s S) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone([]string(s))
}

// spellings are typed vocabulary words as the strings didYouMean compares.
func spellings[T ~string](words []T) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = string(w)
	}
	return out
}
