package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/ssh"
)

// HostError is a docker-level failure on a host, with a short reason a
// person can act on.
type HostError struct {
	Reason string // "docker not running", "docker: permission denied", …
	Err    error
}

func (e *HostError) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *HostError) Unwrap() error { return e.Err }

// classify turns a failed docker invocation into a HostError where the
// cause is recognisable.
func classify(err error) error {
	var xe *ssh.ExitError
	if !errors.As(err, &xe) {
		return err
	}
	msg := strings.ToLower(xe.Stderr)
	switch {
	case strings.Contains(msg, "permission denied") && strings.Contains(msg, "docker"):
		return &HostError{Reason: "docker: permission denied (add the user to the docker group, or set ssh.sudo: true)", Err: err}
	case strings.Contains(msg, "a password is required") || strings.Contains(msg, "a terminal is required"):
		return &HostError{Reason: "sudo needs a password (drover runs `sudo -n`: allow docker without a password)", Err: err}
	case strings.Contains(msg, "cannot connect to the docker daemon") || strings.Contains(msg, "is the docker daemon running"):
		return &HostError{Reason: "docker not running", Err: err}
	case xe.Code == 127 || strings.Contains(msg, "not found"):
		return &HostError{Reason: "docker not installed", Err: err}
	}
	return err
}

// Reason gives a short text for why a host is not usable.
func Reason(err error) string {
	var he *HostError
	if errors.As(err, &he) {
		return he.Reason
	}
	if errors.Is(err, ErrDockerDown) {
		return fmt.Sprint("docker not running")
	}
	return ssh.Reason(err)
}
