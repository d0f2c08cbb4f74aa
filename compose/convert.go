package compose

import (
	"errors"
	"fmt"
	"maps"
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
