package ssh

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrAuthFailed: the server rejected every key we offered, or we had
	// none to offer.
	ErrAuthFailed = errors.New("auth failed")
	// ErrTimeout: TCP connect plus handshake did not finish within
	// Config.ConnectTimeout, or a command not within its Cmd.Timeout
	// (then the error is a *CommandTimeoutError).
	ErrTimeout = errors.New("timeout")
	// ErrClientClosed: the Client was closed, by Close or because its
	// keepalive went unanswered.
	ErrClientClosed = errors.New("ssh connection closed")
	// ErrPoolClosed: the Pool was closed.
	ErrPoolClosed = errors.New("ssh pool closed")
	// ErrConnectionLost: the connection died under a command (the error
	// is a *ConnectionLostError).
	ErrConnectionLost = errors.New("ssh connection lost")
)

// hostNamer is implemented by errors whose message already names the
// host, so that wrappers do not repeat it.
type hostNamer interface{ hostName() string }

var (
	_ hostNamer = (*DialError)(nil)
	_ hostNamer = (*HostError)(nil)
	_ hostNamer = (*HostKeyError)(nil)
	_ hostNamer = (*ExitError)(nil)
	_ hostNamer = (*CommandTimeoutError)(nil)
	_ hostNamer = (*ConnectionLostError)(nil)
)

// DialError reports that a host could not be connected to.
type DialError struct {
	Host string // inventory name
	Addr string // host:port of the target, "" if not resolved
	Via  string // the jump hop that failed; "" when the target itself failed
	Err  error
}

func (e *DialError) Error() string {
	var named hostNamer
	if e.Via == "" && errors.As(e.Err, &named) && named.hostName() == e.Host {
		return e.Err.Error() // e.g. a HostKeyError, which names host and address
	}
	s := "ssh " + e.Host
	if e.Addr != "" {
		s += " (" + e.Addr + ")"
	}
	if e.Via != "" {
		s += " via jump host " + e.Via
	}
	return s + ": " + e.Err.Error()
}

func (e *DialError) Unwrap() error    { return e.Err }
func (e *DialError) hostName() string { return e.Host }

// HostError attributes an error to a host; Pool.ForEach joins one per
// failed host.
type HostError struct {
	Host string
	Err  error
}

func (e *HostError) Error() string {
	var named hostNamer
	if errors.As(e.Err, &named) && named.hostName() == e.Host {
		return e.Err.Error()
	}
	return e.Host + ": " + e.Err.Error()
}

func (e *HostError) Unwrap() error    { return e.Err }
func (e *HostError) hostName() string { return e.Host }

// CommandTimeoutError reports a remote command that did not finish within
// its Cmd.Timeout. The remote process was sent SIGKILL and its session
// closed. It matches ErrTimeout.
type CommandTimeoutError struct {
	Host  string
	Args  []string // the words of argv that name the command, for messages only
	After time.Duration
}

func (e *CommandTimeoutError) Error() string {
	return fmt.Sprintf("%s: %s did not finish within %s", e.Host, summarizeArgs(e.Args), e.After)
}

func (e *CommandTimeoutError) Is(target error) bool { return target == ErrTimeout }
func (e *CommandTimeoutError) hostName() string     { return e.Host }

// ConnectionLostError reports a command whose connection died before it
// finished. If Started, the command may have run, in whole or in part. It
// matches ErrConnectionLost.
type ConnectionLostError struct {
	Host    string
	Args    []string // the words of argv that name the command, for messages only
	Started bool
	Err     error
}

func (e *ConnectionLostError) Error() string {
	s := e.Host + ": " + summarizeArgs(e.Args) + ": connection lost"
	if e.Started {
		s += " while the command ran (it may have run)"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ConnectionLostError) Unwrap() []error  { return []error{ErrConnectionLost, e.Err} }
func (e *ConnectionLostError) hostName() string { return e.Host }

// IdentityError reports an identity file that cannot be used.
type IdentityError struct {
	Path string
	// Encrypted is set when the key needs a passphrase that we don't have.
	Encrypted bool
	Err       error // nil when Encrypted
}

func (e *IdentityError) Error() string {
	what := "identity file " + tildePath(e.Path)
	if strings.HasPrefix(e.Path, "$") {
		what = "the key in " + e.Path // given by content, e.g. $DROVER_SSH_KEY
	}
	if e.Encrypted {
		return fmt.Sprintf("%s is encrypted: add it to ssh-agent or set DROVER_SSH_PASSPHRASE", what)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

func (e *IdentityError) Unwrap() error { return e.Err }

// tildePath shortens a path under the home directory to ~/..., the way
// users write it in ssh configs.
func tildePath(p string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return p
	}
	if rel, ok := strings.CutPrefix(p, home+string(filepath.Separator)); ok {
		return "~/" + filepath.ToSlash(rel)
	}
	return p
}
