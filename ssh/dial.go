package ssh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"

	gossh "golang.org/x/crypto/ssh"
)

// DefaultMaxSessions bounds concurrent sessions on one connection. sshd
// refuses more than MaxSessions (default 10) open channels; we stay below
// that with room for the SFTP session.
const DefaultMaxSessions = 8

// dialer holds what the dials of one Pool share: parsed known_hosts files
// (and their append lock) and decrypted identity files.
type dialer struct {
	knownHosts  *knownHostsFiles
	keys        *keyCache
	maxSessions int
}

func newDialer(maxSessions int) *dialer {
	if maxSessions <= 0 {
		maxSessions = DefaultMaxSessions
	}
	return &dialer{knownHosts: newKnownHostsFiles(), keys: newKeyCache(), maxSessions: maxSessions}
}

// Dial connects to the host described by cfg, through its jump hosts, and
// verifies every hop against cfg.KnownHostsFile. Errors are *DialError;
// Reason summarises them. Use a Pool to connect to many hosts.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	return newDialer(DefaultMaxSessions).dial(ctx, cfg)
}

func (d *dialer) dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	name := cfg.displayName()
	addr := ""
	if cfg.Host != "" {
		addr = cfg.Addr()
	}
	fail := func(via string, err error) error {
		return &DialError{Host: name, Addr: addr, Via: via, Err: err}
	}
	if err := cfg.validate(); err != nil {
		return nil, fail("", err)
	}
	creds, err := gatherCredentials(cfg, d.keys)
	if err != nil {
		return nil, fail("", err)
	}
	// Agent signatures are only needed during the handshakes.
	defer creds.close()
	kh := d.knownHosts.get(cfg.KnownHostsFile, cfg.KnownHostsName)

	// One deadline for the whole chain, so that a dead host costs at most
	// ConnectTimeout however many hops it has.
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()

	hops := append(slices.Clone(cfg.Jumps), cfg.Endpoint)
	chain := make([]*gossh.Client, 0, len(hops))
	var hostKey gossh.PublicKey
	for i, hop := range hops {
		hopName, via := name, ""
		if i < len(hops)-1 {
			hopName, via = hop.Host, hop.String()
		}
		if hop.User == "" {
			hop.User = cfg.User
		}
		var prev *gossh.Client
		if i > 0 {
			prev = chain[i-1]
		}
		c, key, err := dialHop(ctx, prev, hop, hopName, cfg.AcceptNewHostKeys, creds, kh)
		if err != nil {
			closeAll(chain)
			return nil, fail(via, classifyDialError(ctx, cfg, creds, err))
		}
		chain = append(chain, c)
		hostKey = key
	}
	c := newClient(name, cfg, chain, d.maxSessions)
	c.hostKey = hostKey
	return c, nil
}

// dialHop opens the TCP connection to hop, directly or tunnelled through
// prev, and runs the SSH handshake under ctx's deadline.
func dialHop(ctx context.Context, prev *gossh.Client, hop Endpoint, name string, acceptNew bool,
	creds *credentials, kh *knownHostsFile) (*gossh.Client, gossh.PublicKey, error) {
	addr := hop.Addr()
	check, err := kh.check(name, addr, acceptNew)
	if err != nil {
		return nil, nil, err
	}
	var presented gossh.PublicKey
	callback := func(host string, remote net.Addr, key gossh.PublicKey) error {
		presented = key
		return check.callback(host, remote, key)
	}
	var conn net.Conn
	if prev == nil {
		var nd net.Dialer
		conn, err = nd.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = prev.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, nil, err
	}

	cc, chans, reqs, err := handshake(ctx, conn, addr, &gossh.ClientConfig{
		User:              hop.User,
		Auth:              creds.authMethods(),
		HostKeyCallback:   callback,
		HostKeyAlgorithms: check.algorithms,
	})
	if err != nil {
		return nil, nil, err
	}
	return gossh.NewClient(cc, chans, reqs), presented, nil
}

// handshake runs the SSH handshake on conn until ctx ends. The handshake
// knows no context, and a deadline on conn does not help: a channel
// tunnelled through a jump host does not support deadlines, so a target
// that accepts TCP but never speaks SSH would hang it forever. It runs in
// a goroutine instead; when ctx ends, conn is closed (which ends the
// handshake's reads, for a tunnel once the jump host confirms the close,
// at the latest when the caller closes the jump connection) and handshake
// returns at once without waiting for it.
func handshake(ctx context.Context, conn net.Conn, addr string, config *gossh.ClientConfig) (gossh.Conn, <-chan gossh.NewChannel, <-chan *gossh.Request, error) {
	type result struct {
		cc    gossh.Conn
		chans <-chan gossh.NewChannel
		reqs  <-chan *gossh.Request
		err   error
	}
	done := make(chan result, 1)
	go func() {
		cc, chans, reqs, err := gossh.NewClientConn(conn, addr, config)
		done <- result{cc, chans, reqs, err} // on error NewClientConn closed conn
	}()
	select {
	case r := <-done:
		return r.cc, r.chans, r.reqs, r.err
	case <-ctx.Done():
		conn.Close()
		go func() {
			// The handshake may have won the race after all.
			if r := <-done; r.err == nil {
				r.cc.Close()
			}
		}()
		return nil, nil, nil, ctx.Err()
	}
}

// classifyDialError replaces x/crypto's generic wrappers with errors that
// say what went wrong.
func classifyDialError(ctx context.Context, cfg Config, creds *credentials, err error) error {
	var hke *HostKeyError
	switch {
	case errors.As(err, &hke):
		return hke
	case isAuthFailure(err):
		return creds.authFailed()
	case errors.Is(ctx.Err(), context.Canceled):
		return ctx.Err()
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return fmt.Errorf("%w: no SSH connection within %s", ErrTimeout, cfg.ConnectTimeout)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// closeAll closes a hop chain, innermost connection first.
func closeAll(chain []*gossh.Client) {
	for i := len(chain) - 1; i >= 0; i-- {
		chain[i].Close()
	}
}
