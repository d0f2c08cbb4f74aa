package ssh

import (
	"context"
	"sync"
	"time"

	"github.com/drover-sh/drover/internal/fanout"
)

// closeWait bounds how long Close waits for cancelled dials to return. A
// cancelled dial returns at once (see handshake); the bound guards against
// a hop that does not confirm the close of its tunnel. A dial finishing
// after Close closes its own connection.
const closeWait = 2 * time.Second

// PoolOptions tune a Pool. The zero value is ready to use.
type PoolOptions struct {
	// MaxSessions bounds concurrent sessions per connection; 0 means
	// DefaultMaxSessions.
	MaxSessions int
}

// Pool holds at most one connection per host for the duration of a run.
// Concurrent callers asking for the same host share one dial, and a failed
// dial is remembered: a host that is down is tried once per run, not once
// per task.
type Pool struct {
	resolve func(name string) (Config, error)
	dialer  *dialer

	// ctx bounds every dial; Close cancels it so that no dial outlives
	// the pool.
	ctx    context.Context
	cancel context.CancelFunc
	dials  sync.WaitGroup

	mu     sync.Mutex
	hosts  map[string]*poolEntry
	closed bool
}

// poolEntry is the outcome of one host's dial; done closes when it is known.
type poolEntry struct {
	done   chan struct{}
	client *Client
	err    error
	// redial is set on the entry that replaced a lost connection: a host
	// is redialled once per run.
	redial bool
}

// NewPool returns a pool that looks up hosts with resolve.
func NewPool(resolve func(name string) (Config, error), opts PoolOptions) *Pool {
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		resolve: resolve,
		dialer:  newDialer(opts.MaxSessions),
		ctx:     ctx,
		cancel:  cancel,
		hosts:   make(map[string]*poolEntry),
	}
}

// Client returns the connection to the named host, dialling it on first
// use. If ctx ends first, Client returns ctx's error but the dial goes on
// for the other callers, bounded by the host's ConnectTimeout.
func (p *Pool) Client(ctx context.Context, name string) (*Client, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	e, ok := p.hosts[name]
	if !ok {
		e = p.startDial(name, false)
	}
	p.mu.Unlock()
	return e.await(ctx)
}

// startDial registers a dial of the named host and starts it; p.mu must be
// held. The dial runs on the pool's context, not the first caller's: its
// outcome is shared with callers whose contexts still live.
func (p *Pool) startDial(name string, redial bool) *poolEntry {
	e := &poolEntry{done: make(chan struct{}), redial: redial}
	p.hosts[name] = e
	p.dials.Add(1)
	go p.dial(name, e)
	return e
}

// await waits for the entry's dial, or for ctx.
func (e *poolEntry) await(ctx context.Context) (*Client, error) {
	select {
	case <-e.done:
		return e.client, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Pool) dial(name string, e *poolEntry) {
	defer p.dials.Done()
	cfg, err := p.resolve(name)
	var c *Client
	if err != nil {
		err = &DialError{Host: name, Err: err}
	} else {
		if cfg.Name == "" {
			cfg.Name = name
		}
		c, err = p.dialer.dial(p.ctx, cfg)
	}
	p.mu.Lock()
	if p.closed && c != nil {
		// Close has given up waiting for us: nobody else will close c.
		c.Close()
		c, err = nil, ErrPoolClosed
	}
	e.client, e.err = c, err
	p.mu.Unlock()
	close(e.done)
}

// Close closes every connection of the pool, cancelling dials in flight,
// and returns within closeWait even if a dial does not. Clients obtained
// from the pool must not be used afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	p.cancel()
	dialsDone := make(chan struct{})
	go func() {
		p.dials.Wait()
		close(dialsDone)
	}()
	select {
	case <-dialsDone:
	case <-time.After(closeWait):
	}
	// No dial can start any more, and one that ends from now on closes
	// its own client: the clients recorded so far are ours to close.
	p.mu.Lock()
	var clients []*Client
	for _, e := range p.hosts {
		if e.client != nil {
			clients = append(clients, e.client)
		}
	}
	p.mu.Unlock()
	// All at once: a close waits for nothing but its own connection.
	fanout.Each(context.Background(), len(clients), clients, func(_ context.Context, _ int, c *Client) error {
		c.Close()
		return nil
	})
	return nil
}
