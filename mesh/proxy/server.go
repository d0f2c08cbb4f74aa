package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// HealthSource tells whether a local container is fit to receive traffic:
// docker's health status when it has a healthcheck, running otherwise.
type HealthSource interface {
	ContainerReady(ctx context.Context, id string) (bool, error)
}

// Server is the running proxy: listeners by route key, backends by address.
type Server struct {
	log    zerolog.Logger
	health HealthSource
	// onChange, when set, is called (without the lock) after a backend
	// or gate changed state; the runner writes the status file from it.
	onChange func()

	mu        sync.Mutex
	ctx       context.Context
	hc        HealthConfig
	listeners map[string]listener
	backends  map[string]*backend
	closed    bool
}

// listener is a TCP or UDP route being served.
type listener interface {
	setRoute(rs *routeState)
	route() *routeState
	close()
	// status: open (a gate may be closed) and the error of the last bind.
	open() (bool, string)
}

// routeState is what a listener forwards to; a reload swaps it atomically.
type routeState struct {
	route    Route
	backends []*backend
	next     atomic.Uint64
}

// pick returns the backends to try, healthy ones first, starting at the
// round-robin position; unhealthy ones are a last resort so that a route
// whose checks are all failing still tries.
func (rs *routeState) pick() []*backend {
	n := len(rs.backends)
	if n == 0 {
		return nil
	}
	start := int(rs.next.Add(1) % uint64(n))
	out := make([]*backend, 0, n)
	var down []*backend
	for i := 0; i < n; i++ {
		b := rs.backends[(start+i)%n]
		if b.up.Load() {
			out = append(out, b)
		} else {
			down = append(down, b)
		}
	}
	return append(out, down...)
}

// NewServer returns a server with no routes. health may be nil when no
// route has a gate.
func NewServer(ctx context.Context, log zerolog.Logger, health HealthSource) *Server {
	return &Server{
		log:       log,
		health:    health,
		ctx:       ctx,
		listeners: map[string]listener{},
		backends:  map[string]*backend{},
	}
}

// Apply makes the server serve c: listeners whose protocol and address are
// unchanged are kept (their route swapped atomically), new ones opened,
// gone ones closed. Established connections are never touched. A listener
// that cannot bind is reported in the joined error and retried by the next
// Apply; the others are served.
func (s *Server) Apply(c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("proxy: server closed")
	}
	hc := c.Health.withDefaults()
	healthChanged := hc != s.hc
	s.hc = hc

	// Backends first: the routes point at them.
	wanted := map[string]Backend{}
	protos := map[string]Protocol{}
	for _, r := range c.Routes {
		for _, b := range r.Backends {
			wanted[b.Address] = b
			if protos[b.Address] != TCP {
				protos[b.Address] = r.Protocol
			}
		}
	}
	for addr, b := range s.backends {
		if w, ok := wanted[addr]; !ok || healthChanged || protos[addr] != b.proto || w.Gated != b.gated {
			b.stop()
			delete(s.backends, addr)
		}
	}
	for addr, w := range wanted {
		if _, ok := s.backends[addr]; ok {
			continue
		}
		b := newBackend(addr, w.Replica, protos[addr], w.Gated)
		ctx, cancel := context.WithCancel(s.ctx)
		b.stop = cancel
		s.backends[addr] = b
		if b.proto == TCP || b.gated {
			// A UDP backend is checked only when it is a gate (which
			// answers an empty datagram); others cannot be.
			go s.runChecks(ctx, b, hc)
		}
	}

	var errs []error
	seen := map[string]bool{}
	for _, r := range c.Routes {
		k := r.key()
		seen[k] = true
		rs := &routeState{route: r}
		for _, b := range r.Backends {
			rs.backends = append(rs.backends, s.backends[b.Address])
		}
		if l, ok := s.listeners[k]; ok && l.route().route.Gate == r.Gate {
			l.setRoute(rs)
			if ok, msg := l.open(); !ok && msg != "" {
				errs = append(errs, fmt.Errorf("%s: %s", r.Name, msg))
			}
			continue
		} else if ok {
			l.close()
			delete(s.listeners, k)
		}
		l, err := s.listen(rs)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
		}
		if l != nil {
			s.listeners[k] = l
		}
	}
	for k, l := range s.listeners {
		if !seen[k] {
			l.close()
			delete(s.listeners, k)
		}
	}
	for addr, b := range s.backends {
		g, _ := s.listeners[string(TCP)+" "+addr].(*gate)
		b.local.Store(g)
	}
	return errors.Join(errs...)
}

func (s *Server) listen(rs *routeState) (listener, error) {
	switch {
	case rs.route.Gate != "":
		return s.newGate(rs), nil
	case rs.route.Protocol == UDP:
		return s.listenUDP(rs)
	default:
		return s.listenTCP(rs)
	}
}

// Close stops every listener and checker; forwarded connections go on
// until they end.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for k, l := range s.listeners {
		l.close()
		delete(s.listeners, k)
	}
	for k, b := range s.backends {
		b.stop()
		delete(s.backends, k)
	}
}

func (s *Server) backendChanged(b *backend, err error) {
	ev := s.log.Info()
	if !b.up.Load() {
		ev = s.log.Warn().AnErr("cause", err)
	}
	ev.Str("backend", b.addr).Str("replica", b.replica).Bool("up", b.up.Load()).Msg("backend health changed")
	if s.onChange != nil {
		s.onChange()
	}
}

// Status is what the proxy reports about itself (the status file drover
// reads for `drover ingress ls`).
type Status struct {
	Version string `json:"version,omitempty"`
	// LocalRange is the range the proxy makes local (the services'
	// addresses), LocalRangeError why it could not, if so.
	LocalRange      string        `json:"local_range,omitempty"`
	LocalRangeError string        `json:"local_range_error,omitempty"`
	Updated         time.Time     `json:"updated"`
	Routes          []RouteStatus `json:"routes"`
}

// RouteStatus is one route: listening or not, and its backends' health.
type RouteStatus struct {
	Name     string          `json:"name"`
	Protocol Protocol        `json:"protocol"`
	Listen   string          `json:"listen"`
	Open     bool            `json:"open"`
	Error    string          `json:"error,omitempty"`
	Gate     string          `json:"gate,omitempty"`
	Backends []BackendStatus `json:"backends"`
}

// BackendStatus is one backend's health as this proxy sees it.
type BackendStatus struct {
	Address string `json:"address"`
	Replica string `json:"replica,omitempty"`
	Up      bool   `json:"up"`
	Active  int64  `json:"active"`
	Error   string `json:"error,omitempty"`
}

// Status returns the current routes and health, sorted.
func (s *Server) Status(now time.Time) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Updated: now.UTC()}
	for _, l := range s.listeners {
		rs := l.route()
		open, msg := l.open()
		r := RouteStatus{Name: rs.route.Name, Protocol: rs.route.Protocol, Listen: rs.route.Listen, Open: open, Error: msg, Gate: rs.route.Gate, Backends: []BackendStatus{}}
		for _, b := range rs.backends {
			b.mu.Lock()
			r.Backends = append(r.Backends, BackendStatus{Address: b.addr, Replica: b.replica, Up: b.up.Load(), Active: b.active.Load(), Error: b.lastErr})
			b.mu.Unlock()
		}
		st.Routes = append(st.Routes, r)
	}
	sort.Slice(st.Routes, func(i, j int) bool {
		return st.Routes[i].Protocol+Protocol(st.Routes[i].Listen) < st.Routes[j].Protocol+Protocol(st.Routes[j].Listen)
	})
	return st
}

// gateTimeout bounds the wait for a gate's acknowledgement: the gate's own
// dial to its replica, and a margin.
const gateTimeout = dialTimeout + 500*time.Millisecond

// dialBackend tries the route's backends in pick order; a failed dial takes
// that backend out at once (the checker brings it back).
func (s *Server) dialBackend(rs *routeState, network string, timeout time.Duration) (net.Conn, *backend, error) {
	var errs []error
	for _, b := range rs.pick() {
		if g := b.local.Load(); g != nil && network == "tcp" {
			// Our own gate: straight to its replica, while it is open.
			if open, _ := g.open(); !open {
				errs = append(errs, fmt.Errorf("%s: gate closed", b.addr))
				continue
			}
			grs := g.route()
			if len(grs.backends) == 0 {
				continue
			}
			c, err := net.DialTimeout(network, grs.backends[0].addr, timeout)
			if err == nil {
				return c, b, nil
			}
			errs = append(errs, err)
			continue
		}
		c, err := net.DialTimeout(network, b.addr, timeout)
		if err == nil && b.gated && network == "tcp" {
			c.SetReadDeadline(time.Now().Add(gateTimeout))
			if err = readAck(c); err == nil {
				c.SetReadDeadline(time.Time{})
			} else {
				c.Close()
			}
		}
		if err == nil {
			return c, b, nil
		}
		errs = append(errs, err)
		s.mu.Lock()
		hc := s.hc
		s.mu.Unlock()
		if b.proto == TCP && b.observe(err, hc, true) {
			s.backendChanged(b, err)
		}
	}
	if len(errs) == 0 {
		return nil, nil, fmt.Errorf("route %s: no backends", rs.route.Name)
	}
	return nil, nil, fmt.Errorf("route %s: every backend failed: %w", rs.route.Name, errors.Join(errs...))
}
