package engine

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/ssh"
)

// Container is one replica to create.
type Container struct {
	Name   string            // STACK_SERVICE.SLOT.ID
	Labels map[string]string // drover's labels, merged over the spec's
	Spec   *cluster.ContainerSpec
}

// CreateArgs returns the `docker create` arguments for c (without "docker")
// and the env-file content that must be fed on stdin: environment values
// never appear in argv, where `ps` on the host would show them. Networks
// beyond the first are connected separately (docker 20.10's run/create takes
// one network), see ExtraNetworks.
func CreateArgs(c Container) (args []string, envFile []byte, err error) {
	s := c.Spec
	a := []string{"create", "--name", c.Name}
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	for k, v := range c.Labels {
		labels[k] = v
	}
	for _, k := range sortedKeys(labels) {
		a = append(a, "--label", k+"="+labels[k])
	}
	if len(s.Env) > 0 {
		var buf bytes.Buffer
		for _, k := range sortedKeys(s.Env) {
			v := s.Env[k]
			if strings.ContainsAny(k, "=\n\x00") || k == "" {
				return nil, nil, fmt.Errorf("environment variable name %q is not valid", k)
			}
			if strings.ContainsAny(v, "\n\x00") {
				return nil, nil, fmt.Errorf("environment variable %s: values with newlines cannot be passed to docker", k)
			}
			buf.WriteString(k + "=" + v + "\n")
		}
		envFile = buf.Bytes()
		a = append(a, "--env-file", "/dev/stdin")
	}
	for _, p := range s.Ports {
		a = append(a, "--publish", portArg(p))
	}
	for _, m := range s.Mounts {
		a = append(a, "--mount", mountArg(m))
	}
	if len(s.Networks) > 0 {
		n := s.Networks[0]
		a = append(a, "--network", n.Name)
		for _, al := range n.Aliases {
			a = append(a, "--network-alias", al)
		}
	}
	if h := s.Healthcheck; h != nil {
		a = append(a, healthArgs(h)...)
	}
	if s.Restart != "" {
		a = append(a, "--restart", s.Restart)
	}
	if s.Limits.NanoCPUs > 0 {
		a = append(a, "--cpus", strconv.FormatFloat(float64(s.Limits.NanoCPUs)/1e9, 'f', -1, 64))
	}
	if s.Limits.MemoryBytes > 0 {
		a = append(a, "--memory", strconv.FormatInt(s.Limits.MemoryBytes, 10))
	}
	if s.Limits.Pids > 0 {
		a = append(a, "--pids-limit", strconv.FormatInt(s.Limits.Pids, 10))
	}
	a = opt(a, "--user", s.User)
	a = opt(a, "--workdir", s.WorkingDir)
	a = opt(a, "--hostname", s.Hostname)
	if s.StopGracePeriod != nil {
		a = append(a, "--stop-timeout", strconv.Itoa(int((*s.StopGracePeriod+time.Second-1)/time.Second)))
	}
	a = opt(a, "--stop-signal", s.StopSignal)
	a = each(a, "--cap-add", s.CapAdd)
	a = each(a, "--cap-drop", s.CapDrop)
	if s.ReadOnly {
		a = append(a, "--read-only")
	}
	if s.Init != nil && *s.Init {
		a = append(a, "--init")
	}
	for _, k := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[k]
		a = append(a, "--ulimit", fmt.Sprintf("%s=%d:%d", k, u.Soft, u.Hard))
	}
	for _, k := range sortedKeys(s.Sysctls) {
		a = append(a, "--sysctl", k+"="+s.Sysctls[k])
	}
	a = each(a, "--add-host", s.ExtraHosts)
	if s.Logging != nil {
		a = opt(a, "--log-driver", s.Logging.Driver)
		for _, k := range sortedKeys(s.Logging.Options) {
			a = append(a, "--log-opt", k+"="+s.Logging.Options[k])
		}
	}
	a = each(a, "--tmpfs", s.Tmpfs)
	if s.ShmSize > 0 {
		a = append(a, "--shm-size", strconv.FormatInt(s.ShmSize, 10))
	}
	a = each(a, "--security-opt", s.SecurityOpt)
	if s.Privileged {
		a = append(a, "--privileged")
	}
	a = each(a, "--device", s.Devices)

	cmd := s.Command
	if s.Entrypoint != nil {
		if len(s.Entrypoint) == 0 {
			a = append(a, "--entrypoint", "")
		} else {
			a = append(a, "--entrypoint", s.Entrypoint[0])
			// docker takes one word for --entrypoint: the rest of a
			// list-form entrypoint goes before the command.
			cmd = append(append([]string{}, s.Entrypoint[1:]...), cmd...)
		}
	}
	a = append(a, s.Image)
	a = append(a, cmd...)
	return a, envFile, nil
}

// ExtraNetworks returns `docker network connect` arguments for every
// network after the first.
func ExtraNetworks(c Container) [][]string {
	var out [][]string
	for _, n := range c.Spec.Networks[min(1, len(c.Spec.Networks)):] {
		a := []string{"network", "connect"}
		for _, al := range n.Aliases {
			a = append(a, "--alias", al)
		}
		out = append(out, append(a, n.Name, c.Name))
	}
	return out
}

func opt(a []string, flag, v string) []string {
	if v == "" {
		return a
	}
	return append(a, flag, v)
}

func each(a []string, flag string, vs []string) []string {
	for _, v := range vs {
		a = append(a, flag, v)
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func portArg(p cluster.Port) string {
	proto := p.Protocol
	if proto == "" {
		proto = "tcp"
	}
	target := strconv.FormatUint(uint64(p.Target), 10) + "/" + proto
	if p.Published == 0 {
		return target
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

// mountArg renders a --mount value. docker parses it as one CSV record, so
// fields holding commas or quotes are CSV-quoted.
func mountArg(m cluster.Mount) string {
	fields := []string{"type=" + m.Type}
	if m.Source != "" {
		fields = append(fields, "source="+m.Source)
	}
	fields = append(fields, "target="+m.Target)
	if m.ReadOnly {
		fields = append(fields, "readonly")
	}
	fields = append(fields, m.Options...)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(fields)
	w.Flush()
	return strings.TrimSuffix(buf.String(), "\n")
}

// healthArgs maps a compose healthcheck onto docker's flags. docker's
// --health-cmd only takes the shell form, so a ["CMD", ...] test is quoted
// into a CMD-SHELL line: this needs /bin/sh in the image (a HEALTHCHECK of
// the image itself needs nothing).
func healthArgs(h *cluster.Healthcheck) []string {
	if h.Disable || (len(h.Test) > 0 && strings.EqualFold(h.Test[0], "NONE")) {
		return []string{"--no-healthcheck"}
	}
	var a []string
	if len(h.Test) > 0 {
		switch strings.ToUpper(h.Test[0]) {
		case "CMD":
			a = append(a, "--health-cmd", ssh.Join(h.Test[1:]))
		case "CMD-SHELL":
			a = append(a, "--health-cmd", strings.Join(h.Test[1:], " "))
		default: // a bare string in compose means CMD-SHELL
			a = append(a, "--health-cmd", strings.Join(h.Test, " "))
		}
	}
	if h.Interval > 0 {
		a = append(a, "--health-interval", h.Interval.String())
	}
	if h.Timeout > 0 {
		a = append(a, "--health-timeout", h.Timeout.String())
	}
	if h.StartPeriod > 0 {
		a = append(a, "--health-start-period", h.StartPeriod.String())
	}
	if h.Retries > 0 {
		a = append(a, "--health-retries", strconv.Itoa(h.Retries))
	}
	return a
}
