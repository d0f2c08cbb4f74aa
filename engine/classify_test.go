package engine

import (
	"errors"
	"fmt"
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/drover-sh/drover/ssh"
)

// TestIsNotFound: docker saying an object is missing is told apart from
// the shell saying docker is missing, and from errors that merely contain
// the words.
func TestIsNotFound(t *testing.T) {
	exit := func(code int, stderr string) error {
		return fmt.Errorf("h1: %w", &ssh.ExitError{Host: "h1", Args: []string{"docker", "network", "rm"}, Code: code, Stderr: stderr})
	}
	cases := []struct {
		name     string
		err      error
		notFound bool
		conflict bool
	}{
		{"nil", nil, false, false},
		{"network rm, daemon", exit(1, "Error response from daemon: network demo_default not found"), true, false},
		{"network rm, old CLI", exit(1, "Error: No such network: demo_default"), true, false},
		{"container", exit(1, "Error response from daemon: No such container: abc"), true, false},
		{"image inspect, second line", exit(1, "[]\nError: No such image: web:v9"), true, false},
		{"volume", exit(1, "Error response from daemon: get demo_data: no such volume"), true, false},
		{"shell: no docker", exit(127, "sh: 1: docker: not found"), false, false},
		{"shell: no docker, bash", exit(127, "bash: line 1: docker: command not found"), false, false},
		{"sudo: no docker", exit(1, "sudo: docker: command not found"), false, false},
		{"other command not found", exit(1, "sh: 1: gzip: not found"), false, false},
		{"daemon down", exit(1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"), false, false},
		{"exists", exit(1, "Error response from daemon: network with name demo_default already exists"), false, true},
		{"plain words", errors.New("h1: config not found"), false, false},
		{"lost connection", &ssh.ConnectionLostError{Host: "h1", Err: errors.New("no such host")}, false, false},
		{"engine api typed", fmt.Errorf("h1: %w", cerrdefs.ErrNotFound), true, false},
		{"engine api conflict", fmt.Errorf("h1: %w", cerrdefs.ErrConflict), false, true},
		{"engine api text", errors.New("Error response from daemon: network with name x already exists"), false, true},
		{"host error", &HostError{Reason: "docker not installed", Err: exit(127, "Error: No such container: x")}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := IsNotFound(c.err); got != c.notFound {
				t.Errorf("IsNotFound(%v) = %v", c.err, got)
			}
			if got := IsConflict(c.err); got != c.conflict {
				t.Errorf("IsConflict(%v) = %v", c.err, got)
			}
		})
	}
}
