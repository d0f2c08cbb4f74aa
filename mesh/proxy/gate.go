package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// gateCheckTimeout bounds one read of the container's state from docker.
const gateCheckTimeout = 2 * time.Second

// gate is a route that listens only while its container is ready by
// docker (healthy, or running without a healthcheck). Closing the listener
// refuses new connections (TCP) or datagrams (UDP: the kernel answers
// "port unreachable"), which is what every other host's checker sees;
// connections already forwarded go on.
type gate struct {
	s    *Server
	rs   atomic.Pointer[routeState]
	stop context.CancelFunc

	mu      sync.Mutex
	ln      listener // a TCP or UDP listener, nil while closed
	lastErr string
}

func (s *Server) newGate(rs *routeState) *gate {
	ctx, cancel := context.WithCancel(s.ctx)
	g := &gate{s: s, stop: cancel}
	g.rs.Store(rs)
	go g.watch(ctx)
	return g
}

func (g *gate) setRoute(rs *routeState) {
	g.rs.Store(rs)
	g.mu.Lock()
	if g.ln != nil {
		g.ln.setRoute(rs)
	}
	g.mu.Unlock()
}

func (g *gate) route() *routeState { return g.rs.Load() }

func (g *gate) open() (bool, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ln != nil, g.lastErr
}

func (g *gate) close() {
	g.stop()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.close()
		g.ln = nil
	}
}

func (g *gate) watch(ctx context.Context) {
	g.s.mu.Lock()
	every := time.Duration(g.s.hc.Interval)
	g.s.mu.Unlock()
	if every <= 0 {
		every = DefaultInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ready, err := g.ready(ctx, gateCheckTimeout)
		if ctx.Err() != nil {
			return
		}
		var nr *NotReadyError
		if err != nil && !errors.As(err, &nr) {
			// docker did not answer (a busy engine): no news, the gate
			// stays as it is.
			g.mu.Lock()
			g.lastErr = err.Error()
			g.mu.Unlock()
		} else if g.set(ready, err) && g.s.onChange != nil {
			g.s.onChange()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *gate) ready(ctx context.Context, timeout time.Duration) (bool, error) {
	if g.s.health == nil {
		return false, errors.New("no docker health source")
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return g.s.health.ContainerReady(cctx, g.rs.Load().route.Gate)
}

// set opens or closes the listener; it returns whether that changed.
func (g *gate) set(ready bool, cause error) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	rs := g.rs.Load()
	switch {
	case ready && g.ln == nil:
		var ln listener
		var err error
		if rs.route.Protocol == UDP {
			ln, err = g.s.listenUDP(rs)
		} else {
			ln, err = g.s.listenTCP(rs)
		}
		if err != nil {
			if err.Error() != g.lastErr {
				// Said once per cause: it is retried on every check
				// (a socket of this host's in TIME_WAIT on the port goes
				// within a minute).
				g.s.log.Warn().Str("route", rs.route.Name).Str("container", short(rs.route.Gate)).Err(err).Msg("gate cannot listen")
			}
			g.lastErr = err.Error()
			return false
		}
		g.ln, g.lastErr = ln, ""
		g.s.log.Info().Str("route", rs.route.Name).Str("container", short(rs.route.Gate)).Msg("gate open: container ready")
		return true
	case !ready && g.ln != nil:
		g.ln.close()
		g.ln = nil
		ev := g.s.log.Warn().Str("route", rs.route.Name).Str("container", short(rs.route.Gate))
		if cause != nil {
			ev = ev.AnErr("cause", cause)
			g.lastErr = cause.Error()
		}
		ev.Msg("gate closed: container not ready")
		return true
	}
	if cause != nil {
		g.lastErr = cause.Error()
	}
	return false
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
