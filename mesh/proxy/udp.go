package proxy

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// udpIdle is how long a UDP flow (one client address) keeps its backend
// socket without traffic either way.
const udpIdle = 30 * time.Second

// udpListener forwards datagrams: each client address is a flow pinned to
// one backend until it has been idle for udpIdle.
type udpListener struct {
	s  *Server
	pc *net.UDPConn
	rs atomic.Pointer[routeState]

	mu    sync.Mutex
	flows map[string]*udpFlow
}

type udpFlow struct {
	up   net.Conn
	b    *backend
	last atomic.Int64 // unix nanos of the last datagram either way
}

func (s *Server) listenUDP(rs *routeState) (*udpListener, error) {
	addr, err := net.ResolveUDPAddr("udp", rs.route.Listen)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, err
	}
	u := &udpListener{s: s, pc: pc, flows: map[string]*udpFlow{}}
	u.rs.Store(rs)
	go u.serve()
	return u, nil
}

func (u *udpListener) setRoute(rs *routeState) { u.rs.Store(rs) }
func (u *udpListener) route() *routeState      { return u.rs.Load() }
func (u *udpListener) open() (bool, string)    { return true, "" }

func (u *udpListener) close() {
	u.pc.Close()
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, f := range u.flows {
		f.up.Close()
		delete(u.flows, k)
	}
}

func (u *udpListener) serve() {
	buf := make([]byte, 64*1024)
	for {
		n, from, err := u.pc.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if n == 0 && u.rs.Load().route.Gate != "" {
			// A check from another host's proxy: this gate is open.
			u.pc.WriteToUDP(nil, from)
			continue
		}
		f := u.flow(from)
		if f == nil {
			continue
		}
		f.last.Store(time.Now().UnixNano())
		f.up.Write(buf[:n])
	}
}

// flow returns the client's flow, opening one on the next backend.
func (u *udpListener) flow(from *net.UDPAddr) *udpFlow {
	k := from.String()
	u.mu.Lock()
	f, ok := u.flows[k]
	u.mu.Unlock()
	if ok {
		return f
	}
	up, b, err := u.s.dialBackend(u.rs.Load(), "udp", dialTimeout)
	if err != nil {
		u.s.log.Warn().Err(err).Str("client", k).Msg("datagram dropped")
		return nil
	}
	f = &udpFlow{up: up, b: b}
	f.last.Store(time.Now().UnixNano())
	u.mu.Lock()
	u.flows[k] = f
	u.mu.Unlock()
	b.active.Add(1)
	go u.replies(k, from, f)
	return f
}

// replies sends the backend's datagrams back to the client until the flow
// is idle.
func (u *udpListener) replies(k string, to *net.UDPAddr, f *udpFlow) {
	defer f.b.active.Add(-1)
	defer func() {
		u.mu.Lock()
		if u.flows[k] == f {
			delete(u.flows, k)
		}
		u.mu.Unlock()
		f.up.Close()
	}()
	buf := make([]byte, 64*1024)
	for {
		f.up.SetReadDeadline(time.Now().Add(time.Second))
		n, err := f.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if time.Since(time.Unix(0, f.last.Load())) > udpIdle {
					return
				}
				continue
			}
			if errors.Is(err, syscall.ECONNREFUSED) && f.b.gated {
				// The gate closed (its replica is not ready): out at
				// once; the client's next datagram opens a flow on
				// another backend, the checker brings this one back.
				u.s.mu.Lock()
				hc := u.s.hc
				u.s.mu.Unlock()
				if f.b.observe(err, hc, true) {
					u.s.backendChanged(f.b, err)
				}
			}
			return
		}
		f.last.Store(time.Now().UnixNano())
		if _, err := u.pc.WriteToUDP(buf[:n], to); err != nil {
			return
		}
	}
}
