package ssh

import (
	"context"
	"fmt"
	"net"
)

// DialCommand opens a command's streams as a connection (Client.DialCommand)
// on the host's pooled connection. A connection found dead is redialled,
// once per run as for commands, and the stream opened again on the new one:
// opening a stream changes nothing on the host.
func (p *Pool) DialCommand(ctx context.Context, name string, argv []string) (net.Conn, error) {
	return p.dialStream(ctx, name, func(c *Client) (net.Conn, error) { return c.DialCommand(ctx, argv) })
}

// DialSocket opens a Unix socket of the host (Client.DialSocket) on its
// pooled connection, redialling a dead connection as DialCommand does.
func (p *Pool) DialSocket(ctx context.Context, name, path string) (net.Conn, error) {
	return p.dialStream(ctx, name, func(c *Client) (net.Conn, error) { return c.DialSocket(ctx, path) })
}

func (p *Pool) dialStream(ctx context.Context, name string, open func(*Client) (net.Conn, error)) (net.Conn, error) {
	c, err := p.Client(ctx, name)
	if err != nil {
		return nil, err
	}
	conn, err := open(c)
	if err == nil || ctx.Err() != nil || !c.lost() {
		return conn, err
	}
	c2, rerr := p.redial(ctx, name, c)
	if rerr != nil {
		return nil, fmt.Errorf("%w (no new connection: %w)", err, rerr)
	}
	return open(c2)
}
