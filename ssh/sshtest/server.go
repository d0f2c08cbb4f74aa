package sshtest

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// Handler runs the command line of one exec request and returns its exit
// status. stdin reaches EOF when the client closes its input or the
// session.
type Handler func(cmd string, stdin io.Reader, stdout, stderr io.Writer) int

// ContextHandler is a Handler that also learns, through ctx, when the
// client signals the command or closes the session.
type ContextHandler func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int

// Server is a running test server.
type Server struct {
	Addr    string // 127.0.0.1:port
	Host    string // 127.0.0.1
	Port    int
	HostKey gossh.PublicKey
	// ClientKey is accepted for public-key auth, as are the keys given
	// with WithAuthorizedKey.
	ClientKey    ed25519.PrivateKey
	ClientSigner gossh.Signer

	handler     ContextHandler
	config      *gossh.ServerConfig
	ln          net.Listener
	maxSessions int
	keepAlive   bool
	sftpStalls  atomic.Int64 // SFTP sessions still to stall

	handshakes  atomic.Int64
	keepalives  atomic.Int64
	peakSession atomic.Int64

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// Option configures a Server.
type Option func(*options)

type options struct {
	hostKeys    []gossh.Signer
	ctxHandler  ContextHandler
	clientKey   ed25519.PrivateKey
	authorized  []gossh.PublicKey
	maxSessions int
	ignoreKA    bool
	sftpStalls  int64
}

// WithHostKey adds a host key; without any, an ed25519 key is generated.
// With several, the client's algorithm preference picks the one shown;
// Server.HostKey is the first.
func WithHostKey(s gossh.Signer) Option {
	return func(o *options) { o.hostKeys = append(o.hostKeys, s) }
}

// WithContextHandler runs exec requests with h instead of NewServer's
// Handler.
func WithContextHandler(h ContextHandler) Option { return func(o *options) { o.ctxHandler = h } }

// WithClientKey sets ClientKey instead of generating one, so that many
// servers can accept one identity.
func WithClientKey(k ed25519.PrivateKey) Option { return func(o *options) { o.clientKey = k } }

// WithAuthorizedKey accepts k in addition to ClientKey.
func WithAuthorizedKey(k gossh.PublicKey) Option {
	return func(o *options) { o.authorized = append(o.authorized, k) }
}

// WithMaxSessions rejects session channels beyond n open ones per
// connection, like sshd's MaxSessions (default 10).
func WithMaxSessions(n int) Option { return func(o *options) { o.maxSessions = n } }

// WithoutKeepAliveReplies leaves keepalive requests unanswered, like a host
// that vanished without closing the TCP connection.
func WithoutKeepAliveReplies() Option { return func(o *options) { o.ignoreKA = true } }

// WithStalledSFTP makes the first n SFTP sessions accept the subsystem
// request and then never answer, like an sftp-server stuck on a hung disk.
func WithStalledSFTP(n int) Option { return func(o *options) { o.sftpStalls = int64(n) } }

// NewServer starts a server on 127.0.0.1 that runs exec requests with h.
// It is closed when the test ends.
func NewServer(t testing.TB, h Handler, opts ...Option) *Server {
	t.Helper()
	o := options{maxSessions: 10}
	for _, opt := range opts {
		opt(&o)
	}
	if len(o.hostKeys) == 0 {
		o.hostKeys = []gossh.Signer{Signer(t, NewKey(t))}
	}
	handler := o.ctxHandler
	if handler == nil && h != nil {
		handler = func(_ context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
			return h(cmd, stdin, stdout, stderr)
		}
	}
	if o.clientKey == nil {
		o.clientKey = NewKey(t)
	}
	s := &Server{
		ClientKey:    o.clientKey,
		ClientSigner: Signer(t, o.clientKey),
		HostKey:      o.hostKeys[0].PublicKey(),
		handler:      handler,
		maxSessions:  o.maxSessions,
		keepAlive:    !o.ignoreKA,
		conns:        make(map[net.Conn]bool),
	}
	s.sftpStalls.Store(o.sftpStalls)
	authorized := map[string]bool{string(s.ClientSigner.PublicKey().Marshal()): true}
	for _, k := range o.authorized {
		authorized[string(k.Marshal())] = true
	}
	s.config = &gossh.ServerConfig{
		PublicKeyCallback: func(_ gossh.ConnMetadata, key gossh.PublicKey) (*gossh.Permissions, error) {
			if authorized[string(key.Marshal())] {
				return nil, nil
			}
			return nil, errUnauthorized
		},
	}
	for _, k := range o.hostKeys {
		s.config.AddHostKey(k)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	s.Addr = ln.Addr().String()
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { s.Close() })
	return s
}

// Handshakes returns the number of completed SSH handshakes (connections
// that authenticated).
func (s *Server) Handshakes() int { return int(s.handshakes.Load()) }

// KeepAlives returns the number of keepalive requests received.
func (s *Server) KeepAlives() int { return int(s.keepalives.Load()) }

// PeakSessions returns the highest number of sessions that were open at
// once on one connection.
func (s *Server) PeakSessions() int { return int(s.peakSession.Load()) }

// KnownHostsLine returns the known_hosts line for this server.
func (s *Server) KnownHostsLine() string { return KnownHostsLine(s.Addr, s.HostKey) }

// Close stops the server and drops its connections, then waits for its
// goroutines, including running handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// DropConnections closes every connection, as a network cut or an sshd
// restart would, and goes on accepting new ones.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer s.untrack(c)
	sc, chans, reqs, err := gossh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	s.handshakes.Add(1)
	s.wg.Add(1)
	go s.globalRequests(reqs)

	var open atomic.Int64 // sessions open on this connection
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			if open.Load() >= int64(s.maxSessions) {
				nc.Reject(gossh.ResourceShortage, "too many sessions")
				continue
			}
			n := open.Add(1)
			s.notePeak(n)
			ch, creqs, err := nc.Accept()
			if err != nil {
				open.Add(-1)
				continue
			}
			s.wg.Add(1)
			go s.session(ch, creqs, func() { open.Add(-1) })
		case "direct-tcpip":
			s.wg.Add(1)
			go s.forward(nc)
		default:
			nc.Reject(gossh.UnknownChannelType, "unsupported channel type")
		}
	}
}

func (s *Server) notePeak(n int64) {
	for {
		p := s.peakSession.Load()
		if n <= p || s.peakSession.CompareAndSwap(p, n) {
			return
		}
	}
}

func (s *Server) globalRequests(reqs <-chan *gossh.Request) {
	defer s.wg.Done()
	for r := range reqs {
		if r.Type == "keepalive@openssh.com" {
			s.keepalives.Add(1)
			if !s.keepAlive {
				continue // never answered
			}
		}
		// Like sshd: unknown requests, keepalives included, get a
		// failure reply, which still proves the server alive.
		if r.WantReply {
			r.Reply(false, nil)
		}
	}
}

// track registers c to be closed by Close; false if the server is closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = true
	return true
}

// untrack closes c and forgets it.
func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
