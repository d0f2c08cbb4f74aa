// Package engine drives the docker engine of one host through the Engine
// API (API, over a stream of the run's SSH connection; every call passes
// the one choke point in chokepoint.go, which gives it its deadline).
// Without an API client (the command-string fakes of enginetest) it runs
// the docker CLI through an ssh.Runner: Engine.run is the one place that
// gives a command its deadline and hands argv to the transport (which
// quotes it).
package engine

import (
	"context"
	"io"

	"github.com/drover-sh/drover/ssh"
)

// Runner is the one method engine needs from the transport.
type Runner interface {
	Run(ctx context.Context, cmd ssh.Cmd) (ssh.Result, error)
}

// Engine is the docker engine of one host.
type Engine struct {
	Host    string // inventory name, for messages
	Cluster string // value of the drover.cluster label
	Sudo    bool   // run docker as `sudo -n docker`
	R       Runner
	// Timeouts bound each command; the zero value means the defaults.
	Timeouts Timeouts
	// Liveness, when set, is shared by the host's engines of one run: once
	// a read or change timed out, later commands fail at once.
	Liveness *Liveness
	// API, when set, serves every operation through the Engine API;
	// without it they run the docker CLI through R.
	API *API
	// Audit, when set, is told every command that changes the host (not
	// reads), after it ran, with its error. Arguments hold no secrets: env
	// values travel on stdin.
	Audit func(host string, argv []string, err error)
}

func (e *Engine) docker(args ...string) []string {
	if e.Sudo {
		return append([]string{"sudo", "-n", "docker"}, args...)
	}
	return append([]string{"docker"}, args...)
}

// audit tells Audit about a change made through the API, named as the
// docker command that would have made it.
func (e *Engine) audit(args []string, err error) {
	if e.Audit != nil {
		e.Audit(e.Host, e.docker(args...), err)
	}
}

// read runs a docker command that changes nothing and returns its stdout.
func (e *Engine) read(ctx context.Context, args ...string) ([]byte, error) {
	res, err := e.run(ctx, opRead, 0, ssh.Cmd{Args: e.docker(args...)})
	return res.Stdout, err
}

// mutate runs a docker command that changes the host, bounded by the
// Change timeout.
func (e *Engine) mutate(ctx context.Context, stdin io.Reader, args ...string) ([]byte, error) {
	return e.mutateKind(ctx, opChange, stdin, args...)
}

func (e *Engine) mutateKind(ctx context.Context, kind opKind, stdin io.Reader, args ...string) ([]byte, error) {
	argv := e.docker(args...)
	res, err := e.run(ctx, kind, 0, ssh.Cmd{Args: argv, Stdin: stdin})
	if e.Audit != nil {
		e.Audit(e.Host, argv, err)
	}
	return res.Stdout, err
}
