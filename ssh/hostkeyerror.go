package ssh

import (
	"fmt"
	"strings"
)

// HostKeyKind tells why a host key was refused.
type HostKeyKind int

const (
	// HostKeyUnknown: known_hosts has no key for the host.
	HostKeyUnknown HostKeyKind = iota + 1
	// HostKeyMismatch: known_hosts has other keys for the host. This is
	// what a man-in-the-middle looks like and is never accepted
	// automatically.
	HostKeyMismatch
	// HostKeyRevoked: the key is marked @revoked in known_hosts.
	HostKeyRevoked
)

func (k HostKeyKind) String() string {
	switch k {
	case HostKeyUnknown:
		return "host key unknown"
	case HostKeyMismatch:
		return "host key mismatch"
	case HostKeyRevoked:
		return "host key revoked"
	}
	return fmt.Sprintf("HostKeyKind(%d)", int(k))
}

// HostKeyError reports a host key that failed verification against
// known_hosts.
type HostKeyError struct {
	Host           string // inventory name (or jump host address)
	Address        string // host:port that was dialed
	Kind           HostKeyKind
	Presented      string   // "ssh-ed25519 SHA256:..." offered by the server
	Expected       []string // for mismatches: known keys, "type SHA256:... (file:line)"
	KnownHostsFile string
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Kind == HostKeyUnknown && strings.HasPrefix(e.KnownHostsFile, "$"):
		return fmt.Sprintf("host key of %s (%s) is not in %s: server presented %s; "+
			"check the fingerprint, then add the host's line (ssh-keyscan) to %s",
			e.Host, e.Address, e.KnownHostsFile, e.Presented, e.KnownHostsFile)
	case e.Kind == HostKeyUnknown:
		return fmt.Sprintf("host key of %s (%s) is unknown: server presented %s; "+
			"check the fingerprint, then rerun with --accept-new-host-keys to add it to %s",
			e.Host, e.Address, e.Presented, tildePath(e.KnownHostsFile))
	case e.Kind == HostKeyMismatch:
		return fmt.Sprintf("HOST KEY MISMATCH for %s (%s): server presented %s but known_hosts has %s; "+
			"this may be a man-in-the-middle attack - if the host was reinstalled, remove the old entry and reconnect",
			e.Host, e.Address, e.Presented, strings.Join(e.Expected, " or "))
	default:
		return fmt.Sprintf("host key of %s (%s) is revoked in %s: %s", e.Host, e.Address, tildePath(e.KnownHostsFile), e.Presented)
	}
}

func (e *HostKeyError) hostName() string { return e.Host }
