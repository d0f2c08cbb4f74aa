package ssh

import (
	"errors"
	"net"
	"strconv"
	"time"
)

// Defaults applied by Dial when the corresponding Config field is zero.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 15 * time.Second
	DefaultFileTimeout    = 30 * time.Second
)

// Endpoint is one SSH server: the target host or a ProxyJump hop.
type Endpoint struct {
	User string // remote login; for a jump hop "" means the target's user
	Host string // DNS name or IP address (IPv6 without brackets)
	Port int    // 0 means DefaultPort
}

// Addr returns host:port as used for dialing and for known_hosts lookups.
func (e Endpoint) Addr() string {
	port := e.Port
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(port))
}

// String returns user@host:port for messages.
func (e Endpoint) String() string {
	if e.User == "" {
		return e.Addr()
	}
	return e.User + "@" + e.Addr()
}

// Config describes how to reach one inventory host. The caller fills it
// from the inventory, ~/.ssh/config (see SSHConfig) and the environment;
// this package reads no environment variables itself.
type Config struct {
	Name string // inventory host name, used in messages and errors
	Endpoint

	// IdentityFiles are private key files, already ~-expanded. Every listed
	// file must exist: a missing one is an error naming it. Callers that
	// want OpenSSH's implicit defaults pass DefaultIdentityFiles(home).
	IdentityFiles []string

	// IdentityKeys are private keys given by content rather than by file
	// (DROVER_SSH_KEY in CI), offered after IdentityFiles.
	IdentityKeys []IdentityKey

	// KnownHostsFile is the known_hosts file used to verify every hop. It
	// is created (0600, directory 0700) when AcceptNewHostKeys needs to
	// record a key.
	KnownHostsFile string

	// KnownHostsName, when set, names KnownHostsFile in messages: the
	// caller wrote a variable's contents ("$DROVER_KNOWN_HOSTS") to a
	// temporary file. Such a list is fixed: unknown keys are not recorded.
	KnownHostsName string

	// AcceptNewHostKeys records keys of hosts that are not in
	// KnownHostsFile yet, like StrictHostKeyChecking=accept-new. A changed
	// key is never accepted.
	AcceptNewHostKeys bool

	// Jumps are ProxyJump hops in order; the first is contacted first.
	Jumps []Endpoint

	// ConnectTimeout bounds TCP connect plus SSH handshake of the whole
	// hop chain. 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// KeepAlive is the interval of keepalive@openssh.com probes; the
	// connection is closed when one goes unanswered for that long. 0 means
	// DefaultKeepAlive, a negative value disables keepalives.
	KeepAlive time.Duration

	// FileTimeout bounds each file operation (ReadFile, WriteFileAtomic,
	// CreateExclusive, ...): when it passes, the SFTP session is dropped
	// and the operation fails with a *CommandTimeoutError. 0 means
	// DefaultFileTimeout, a negative value no bound but the context's.
	FileTimeout time.Duration

	// Passphrase decrypts encrypted identity files (DROVER_SSH_PASSPHRASE,
	// read by the caller). It is never logged or put in errors.
	Passphrase []byte

	// AgentSocket is the SSH_AUTH_SOCK value; "" means no agent. An
	// unreachable agent is ignored, like OpenSSH does.
	AgentSocket string
}

// displayName is the name used in messages: the inventory name if any.
func (c Config) displayName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Host
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.FileTimeout == 0 {
		c.FileTimeout = DefaultFileTimeout
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Host == "":
		return errors.New("no host address configured")
	case c.User == "":
		return errors.New("no remote user configured")
	case c.KnownHostsFile == "":
		return errors.New("no known_hosts file configured")
	case c.KnownHostsName != "" && c.AcceptNewHostKeys:
		return errors.New("--accept-new-host-keys cannot record keys in " + c.KnownHostsName + ": add the host's key to it")
	case c.Port < 0 || c.Port > 65535:
		return errors.New("port " + strconv.Itoa(c.Port) + " out of range")
	}
	for _, j := range c.Jumps {
		if j.Host == "" {
			return errors.New("jump host without address")
		}
	}
	return nil
}

// IdentityKey is a private key by content. Name says where it came from
// ("$DROVER_SSH_KEY") in messages; the key itself never reaches one.
type IdentityKey struct {
	Name string
	PEM  []byte
}
