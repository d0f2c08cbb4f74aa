package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// backend is one backend address with its health, shared by every route
// that lists it; its checker runs while some route lists it.
type backend struct {
	addr    string
	replica string
	proto   Protocol
	gated   bool

	up     atomic.Bool
	active atomic.Int64 // connections being forwarded
	// local is this proxy's own gate when the backend is one of them: a
	// connection then goes straight to the gate's replica (one hop, not
	// two), and only while the gate is open.
	local atomic.Pointer[gate]

	mu        sync.Mutex
	fails     int // consecutive failed checks
	successes int // consecutive good checks while down
	lastErr   string

	stop context.CancelFunc
	refs int // routes listing it (guarded by the server's lock)
}

func newBackend(addr, replica string, proto Protocol, gated bool) *backend {
	b := &backend{addr: addr, replica: replica, proto: proto, gated: gated}
	// A backend starts in rotation: drover adds a replica only once it is
	// running (and healthy, with a healthcheck), and the first failed dial
	// or check takes it out.
	b.up.Store(true)
	return b
}

// observe records one check (or dial) result and returns whether the
// backend changed state. A dial failure while forwarding is "hard": it takes
// the backend out at once.
func (b *backend) observe(err error, h HealthConfig, hard bool) (changed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		b.lastErr = err.Error()
		b.successes = 0
		b.fails++
		if b.up.Load() && (hard || b.fails >= h.Fall) {
			b.up.Store(false)
			return true
		}
		return false
	}
	b.fails = 0
	b.lastErr = ""
	if b.up.Load() {
		return false
	}
	b.successes++
	if b.successes >= h.Rise {
		b.successes = 0
		b.up.Store(true)
		return true
	}
	return false
}

// checkOnce is one active check: a TCP connect, closed at once. UDP has
// no connect to check: UDP backends are not actively checked (see
// docs/networking.md, limits).
func checkOnce(ctx context.Context, d *net.Dialer, proto Protocol, addr string, gated bool) error {
	if proto == UDP {
		return checkUDPGate(ctx, d, addr)
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	// Closed with a reset, not a FIN: a check that closes first would
	// leave this host a TIME_WAIT socket on its address and an ephemeral
	// port for a minute, and the gate of a new replica whose port docker
	// took from the same ephemeral range could not listen there
	// (EADDRINUSE) until it went.
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	defer c.Close()
	if gated {
		// A gate answers only when its replica took the connection.
		if dl, ok := ctx.Deadline(); ok {
			c.SetReadDeadline(dl)
		}
		return readAck(c)
	}
	return nil
}

// checkUDPGate sends a UDP gate an empty datagram, which an open gate
// answers with an empty one (it is not forwarded); a closed gate's port
// answers "unreachable" (a refused read), or nothing when its host is down.
func checkUDPGate(ctx context.Context, d *net.Dialer, addr string) error {
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write(nil); err != nil {
		return fmt.Errorf("udp gate %s: %w", addr, err)
	}
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil {
		return fmt.Errorf("udp gate %s: no answer: %w", addr, err)
	}
	return nil
}

// readAck reads a gate's acknowledgement.
func readAck(c net.Conn) error {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fmt.Errorf("gate %s: no acknowledgement: %w", c.RemoteAddr(), err)
	}
	if b[0] != gateAck {
		return fmt.Errorf("gate %s: acknowledgement %#x, want %#x", c.RemoteAddr(), b[0], gateAck)
	}
	return nil
}

// runChecks checks b every interval until ctx ends.
func (s *Server) runChecks(ctx context.Context, b *backend, h HealthConfig) {
	t := time.NewTicker(time.Duration(h.Interval))
	defer t.Stop()
	d := &net.Dialer{Timeout: time.Duration(h.Timeout)}
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Duration(h.Timeout))
		err := checkOnce(cctx, d, b.proto, b.addr, b.gated)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if b.observe(err, h, false) {
			s.backendChanged(b, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
