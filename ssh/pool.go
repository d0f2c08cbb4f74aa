package ssh

import (
	"context"
	"sync"
)

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
		e = &poolEntry{done: make(chan struct{})}
		p.hosts[name] = e
		p.dials.Add(1)
		// The dial runs on the pool's context, not the first caller's:
		// its outcome is shared with callers whose contexts still live.
		go p.dial(name, e)
	}
	p.mu.Unlock()

	select {
	case <-e.done:
		return e.client, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *Pool) dial(name string, e *poolEntry) {
	defer p.dials.Done()
	defer close(e.done)
	cfg, err := p.resolve(name)
	if err != nil {
		e.err = &DialError{Host: name, Err: err}
		return
	}
	if cfg.Name == "" {
		cfg.Name = name
	}
	e.client, e.err = p.dialer.dial(p.ctx, cfg)
}

// Close closes every connection of the pool, cancelling dials in flight.
// Clients obtained from the pool must not be used afterwards.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()

	p.cancel()
	p.dials.Wait()
	// No dial is running and none can start: hosts is ours now.
	var wg sync.WaitGroup
	for _, e := range p.hosts {
		if e.client != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.client.Close()
			}()
		}
	}
	wg.Wait()
	return nil
}
