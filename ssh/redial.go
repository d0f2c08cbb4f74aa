package ssh

import (
	"context"
	"errors"
	"fmt"
)

// Runner returns a Runner for the named host that takes its connection
// from the pool for each command. When a connection dies under a command,
// the host is redialled, once per run: a command that never started, or
// one marked Idempotent, is run again over the new connection; any other
// command may have run and fails with a *ConnectionLostError, while later
// commands use the new connection.
func (p *Pool) Runner(name string) Runner { return &poolRunner{pool: p, name: name} }

type poolRunner struct {
	pool *Pool
	name string
}

func (r *poolRunner) Run(ctx context.Context, cmd Cmd) (Result, error) {
	return withRedial(ctx, r.pool, r.name, cmd.Idempotent, func(c *Client) (Result, error) { return c.Run(ctx, cmd) })
}

// withRedial runs op on the host's pooled connection. When the connection
// is lost under it, the host is redialled (once per run) and op runs again
// on the new connection if it had not started or is idempotent.
func withRedial[T any](ctx context.Context, p *Pool, name string, idempotent bool, op func(*Client) (T, error)) (T, error) {
	c, err := p.Client(ctx, name)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := op(c)
	var lost *ConnectionLostError
	if !errors.As(err, &lost) {
		return v, err
	}
	c2, rerr := p.redial(ctx, name, c)
	if rerr != nil {
		return v, fmt.Errorf("%w (no new connection: %w)", err, rerr)
	}
	if lost.Started && !idempotent {
		return v, err
	}
	return op(c2)
}

// errRedialSpent: the host's connection was lost a second time.
var errRedialSpent = errors.New("the connection was already redialled once in this run")

// redial replaces the host's lost connection old with a new dial, unless
// another caller already did; a host whose redialled connection is lost
// too is not dialled again.
func (p *Pool) redial(ctx context.Context, name string, old *Client) (*Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	e := p.hosts[name]
	if e.client == old {
		if e.redial {
			p.mu.Unlock()
			return nil, errRedialSpent
		}
		old.Close()
		e = p.startDial(name, true)
	}
	// else: a redial by another caller is done or under way.
	p.mu.Unlock()
	return e.await(ctx)
}

var _ Runner = (*poolRunner)(nil)
