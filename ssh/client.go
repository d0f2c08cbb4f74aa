package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Client is one SSH connection to one host. Commands and file transfers
// run as separate sessions multiplexed over it; it is safe for concurrent
// use.
type Client struct {
	name string
	addr string
	conn *gossh.Client
	// hops are the jump connections the target connection is tunnelled
	// through, outermost first; they live as long as conn.
	hops []*gossh.Client

	// slots bounds concurrent sessions below sshd's MaxSessions.
	slots chan struct{}

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error

	sftpMu sync.Mutex
	sftp   *sftpSession
	// fileTimeout bounds each file operation; 0: only ctx does.
	fileTimeout time.Duration

	// hostKey is the target's key, verified against known_hosts.
	hostKey gossh.PublicKey
}

// HostKeyFingerprint is the SHA256 fingerprint of the host key the server
// presented (and known_hosts vouched for), e.g. "ssh-ed25519 SHA256:…".
func (c *Client) HostKeyFingerprint() string {
	if c.hostKey == nil {
		return ""
	}
	return c.hostKey.Type() + " " + gossh.FingerprintSHA256(c.hostKey)
}

var _ Runner = (*Client)(nil)

// newClient takes ownership of chain, whose last element is the target.
func newClient(name string, cfg Config, chain []*gossh.Client, maxSessions int) *Client {
	c := &Client{
		name:   name,
		addr:   cfg.Addr(),
		conn:   chain[len(chain)-1],
		hops:   chain[:len(chain)-1],
		slots:  make(chan struct{}, maxSessions),
		closed: make(chan struct{}),
	}
	if cfg.FileTimeout > 0 {
		c.fileTimeout = cfg.FileTimeout
	}
	if cfg.KeepAlive > 0 {
		go c.keepAlive(cfg.KeepAlive)
	}
	return c
}

// Name returns the inventory name of the host.
func (c *Client) Name() string { return c.name }

// Addr returns the host:port the client is connected to.
func (c *Client) Addr() string { return c.addr }

// Close closes the SFTP session, the connection and its jump hops.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		// The connection goes first: that also unblocks an SFTP start
		// holding sftpMu.
		err := c.conn.Close()
		if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
			err = nil // the connection had already died, e.g. keepalive
		}
		closeAll(c.hops)
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.close()
		}
		c.sftpMu.Unlock()
		c.closeErr = err
	})
	return c.closeErr
}

// acquire takes a session slot.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closed:
		return ErrClientClosed
	}
}

func (c *Client) release() { <-c.slots }
