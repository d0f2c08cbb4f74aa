package compose

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover-sh/drover/cluster"
)

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
