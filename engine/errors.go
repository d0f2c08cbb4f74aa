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
	var te *ssh.CommandTimeoutError
	if errors.As(err, &te) {
		// dockerd accepted the CLI's connection and never answered (a
		// stuck or stopped daemon): the host is unusable for this run.
		return &HostError{Reason: "docker did not answer within " + te.After.String(), Err: err}
	}
	var xe *ssh.ExitError
	if !errors.As(err, &xe) {
		return err
	}
	if r := reasonFor(xe.Stderr, xe.Code); r != "" {
		return &HostError{Reason: r, Err: err}
	}
	return err
}

// reasonFor recognises why docker could not be used from what it (or the
// shell, or sudo) printed. Only the shell's own wording means docker is
// missing: "not found" alone is also how docker reports a missing image or
// network.
func reasonFor(stderr string, code int) string {
	msg := strings.ToLower(stderr)
	switch {
	case strings.Contains(msg, "permission denied") && strings.Contains(msg, "docker"):
		return "docker: permission denied (add the user to the docker group, or set ssh.sudo: true)"
	case strings.Contains(msg, "a password is required") || strings.Contains(msg, "a terminal is required"):
		return "sudo needs a password (drover runs `sudo -n`: allow docker without a password)"
	case strings.Contains(msg, "cannot connect to the docker daemon") || strings.Contains(msg, "is the docker daemon running"):
		return "docker not running"
	case code == 127 || strings.Contains(msg, "docker: not found") || strings.Contains(msg, "docker: command not found"):
		return "docker not installed"
	}
	return ""
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
