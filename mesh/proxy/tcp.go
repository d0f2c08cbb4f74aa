package proxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds a connect to a backend while forwarding; the next
// backend is tried after it.
const dialTimeout = time.Second

// tcpListener accepts on one address and forwards every connection.
type tcpListener struct {
	s  *Server
	ln net.Listener
	rs atomic.Pointer[routeState]
}

func (s *Server) listenTCP(rs *routeState) (*tcpListener, error) {
	ln, err := net.Listen("tcp", rs.route.Listen)
	if err != nil {
		return nil, err
	}
	t := &tcpListener{s: s, ln: ln}
	t.rs.Store(rs)
	go t.serve()
	return t, nil
}

func (t *tcpListener) setRoute(rs *routeState) { t.rs.Store(rs) }
func (t *tcpListener) route() *routeState      { return t.rs.Load() }
func (t *tcpListener) close()                  { t.ln.Close() }
func (t *tcpListener) open() (bool, string)    { return true, "" }

func (t *tcpListener) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait a little rather than spin.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go t.s.forwardTCP(c, t.rs.Load())
	}
}

// forwardTCP copies both ways until both directions ended; each
// direction's end is passed on as a half close.
func (s *Server) forwardTCP(client net.Conn, rs *routeState) {
	defer client.Close()
	up, b, err := s.dialBackend(rs, "tcp", dialTimeout)
	if err != nil {
		s.log.Warn().Err(err).Str("client", client.RemoteAddr().String()).Msg("connection dropped")
		return
	}
	defer up.Close()
	if rs.route.Gate != "" {
		// A gate: tell the proxy upstream that the replica took it.
		if _, err := client.Write([]byte{gateAck}); err != nil {
			return
		}
	}
	b.active.Add(1)
	defer b.active.Add(-1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(up, client) }()
	go func() { defer wg.Done(); pipe(client, up) }()
	wg.Wait()
}

func pipe(dst, src net.Conn) {
	// TCPConn to TCPConn: io.Copy splices in the kernel on Linux.
	_, err := io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		cw.CloseWrite()
		return
	}
	// An error on one side: end both, the other copy returns too.
	dst.Close()
	src.Close()
}
