package cluster

import (
	"path"

	"gopkg.in/yaml.v3"
)

// DockerTransport is how drover reaches a host's Engine API over SSH.
type DockerTransport string

const (
	// DialStdio runs `docker system dial-stdio` in an SSH session (with
	// `sudo -n` when ssh.sudo is set), as docker's own ssh:// hosts do.
	DialStdio DockerTransport = "dial-stdio"
	// StreamLocal opens the engine's Unix socket through an SSH
	// direct-streamlocal channel: no docker CLI is needed on the host,
	// and the SSH user needs access to the socket (sudo cannot apply).
	StreamLocal DockerTransport = "streamlocal"
)

// DefaultDockerSocket is where dockerd listens unless told otherwise.
const DefaultDockerSocket = "/var/run/docker.sock"

// DockerSettings are the docker: keys, at the top level (defaults) or per
// host (overrides). Zero values mean "not set here".
type DockerSettings struct {
	Transport DockerTransport
	Socket    string // streamlocal only: the engine's socket on the host
}

// DockerFor returns the host's docker settings, its overrides over the
// inventory's defaults, with the built-in defaults filled in.
func (inv *Inventory) DockerFor(h *Host) DockerSettings {
	d := inv.Docker
	if h.Docker.Transport != "" {
		d.Transport = h.Docker.Transport
	}
	if h.Docker.Socket != "" {
		d.Socket = h.Docker.Socket
	}
	if d.Transport == "" {
		d.Transport = DialStdio
	}
	if d.Socket == "" {
		d.Socket = DefaultDockerSocket
	}
	return d
}

func (p *invParser) docker(n *yaml.Node, where string) (DockerSettings, error) {
	var d DockerSettings
	f, err := p.fields(n, where, "transport", "socket")
	if err != nil {
		return d, err
	}
	if v, ok := f["transport"]; ok {
		t, err := p.str(v, where+".transport")
		if err != nil {
			return d, err
		}
		switch DockerTransport(t) {
		case DialStdio, StreamLocal:
			d.Transport = DockerTransport(t)
		default:
			return d, p.errf(v, "%s.transport %q: must be %s or %s", where, t, DialStdio, StreamLocal)
		}
	}
	if v, ok := f["socket"]; ok {
		s, err := p.str(v, where+".socket")
		if err != nil {
			return d, err
		}
		if !path.IsAbs(s) {
			return d, p.errf(v, "%s.socket %q: must be an absolute path on the host", where, s)
		}
		d.Socket = s
	}
	return d, nil
}

// checkDocker rejects combinations that cannot work, per host.
func (p *invParser) checkDocker(inv *Inventory, nodes map[string]*yaml.Node) error {
	for i := range inv.Hosts {
		h := &inv.Hosts[i]
		s := inv.SSHFor(h)
		if inv.DockerFor(h).Transport == StreamLocal && s.Sudo != nil && *s.Sudo {
			return p.errf(nodes[h.Name], "host %s: docker.transport streamlocal cannot use ssh.sudo (the socket is opened as the SSH user): use dial-stdio, or give the user access to the socket", h.Name)
		}
	}
	return nil
}
