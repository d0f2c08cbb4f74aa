package engine

import (
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"

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

// IsNotFound reports whether err is docker saying that the object asked
// for (container, image, network, volume) does not exist: the Engine API's
// typed not-found, or the docker CLI's own words on a command that ran.
// A host without docker ("sh: docker: not found", exit 127) is not a
// missing object, nor is any error that merely contains the words.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	if cerrdefs.IsNotFound(err) {
		return true
	}
	return daemonSays(err, "no such ", " not found")
}

// IsConflict reports whether err is docker refusing to create an object
// that already exists.
func IsConflict(err error) bool {
	if err == nil {
		return false
	}
	if cerrdefs.IsConflict(err) {
		return true
	}
	return daemonSays(err, "already exists")
}

// daemonSays reports whether a docker command that ran failed with an
// error line of docker's ("Error response from daemon: …", "Error: …")
// containing one of the phrases. Failures that say docker itself is
// unusable (reasonFor) never match.
func daemonSays(err error, phrases ...string) bool {
	xe, ok := asExit(err)
	if !ok {
		// The Engine API answers in typed errors; an answer that is not
		// one (a daemon message relayed as text) keeps its words.
		var he *HostError
		if errors.As(err, &he) {
			return false
		}
		msg := strings.ToLower(err.Error())
		if !strings.Contains(msg, "error response from daemon:") {
			return false
		}
		return containsAny(msg[strings.Index(msg, "error response from daemon:"):], phrases)
	}
	if xe.Code == 127 || reasonFor(xe.Stderr, xe.Code) != "" {
		return false
	}
	for _, line := range strings.Split(strings.ToLower(xe.Stderr), "\n") {
		line = strings.TrimSpace(line)
		if (strings.HasPrefix(line, "error response from daemon:") || strings.HasPrefix(line, "error:")) && containsAny(line, phrases) {
			return true
		}
	}
	return false
}

func containsAny(s string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
