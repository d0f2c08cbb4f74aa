package engine

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// MinAPIVersion is the oldest Engine API drover speaks: Docker Engine 20.10.
const MinAPIVersion = "1.41"

// DefaultMaxStreams bounds the engine streams (SSH sessions running
// `docker system dial-stdio`, or socket channels) open at once per host,
// well below sshd's MaxSessions so commands still find a session.
const DefaultMaxStreams = 4

// Dialer opens one new stream to the host's engine.
type Dialer func(ctx context.Context) (net.Conn, error)

// APIConfig configures one host's Engine API client.
type APIConfig struct {
	Host string // inventory name, for messages and logs
	Dial Dialer
	// DryRun refuses every call that could change the host.
	DryRun bool
	// Log receives one debug line per call (never a body).
	Log zerolog.Logger
	// MaxStreams bounds concurrent streams; 0 means DefaultMaxStreams.
	MaxStreams int
	// Timeouts bound each call by what it does, as they bound the CLI's
	// commands; the zero value means the defaults.
	Timeouts Timeouts
}

// API is one host's Engine API client: the official Go client over
// streams opened through the run's SSH connection. It is safe for
// concurrent use.
type API struct {
	host string
	c    *client.Client
	tr   *http.Transport
	// exits remembers why the last stream's command failed, for classify.
	exits *exitMemo
	// streams serves calls that hold a stream for long (logs --follow),
	// one fresh stream each, so they never starve the bounded pool; the
	// SSH connection's session slots still bound them.
	streams   *client.Client
	streamsTr *http.Transport
	// dial opens a raw stream to the engine (a hijacked connection's:
	// the client's own DialHijack cannot reach through the choke point).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu      sync.Mutex
	checked bool // the version was negotiated and is supported
}

// NewAPI returns a client; nothing is dialled before the first call.
func NewAPI(cfg APIConfig) (*API, error) {
	n := cfg.MaxStreams
	if n <= 0 {
		n = DefaultMaxStreams
	}
	exits := &exitMemo{}
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		conn, err := cfg.Dial(ctx)
		exits.dialed(err)
		if err != nil {
			return nil, err
		}
		return &watchedConn{Conn: conn, exits: exits}, nil
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxConnsPerHost:     n,
		MaxIdleConnsPerHost: n,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true, // the stream is local to the host; gzip costs CPU for nothing
	}
	str := &http.Transport{DialContext: dial, DisableKeepAlives: true, DisableCompression: true}
	// One liveness for both clients: once the engine stopped answering,
	// no call of the run waits for it again.
	live := &Liveness{}
	c, err := newClient(&chokePoint{host: cfg.Host, dryRun: cfg.DryRun, log: cfg.Log, next: tr, timeouts: cfg.Timeouts, liveness: live})
	if err != nil {
		return nil, fmt.Errorf("%s: engine api client: %w", cfg.Host, err)
	}
	sc, err := newClient(&chokePoint{host: cfg.Host, dryRun: cfg.DryRun, log: cfg.Log, next: str, timeouts: cfg.Timeouts, liveness: live})
	if err != nil {
		return nil, fmt.Errorf("%s: engine api client: %w", cfg.Host, err)
	}
	return &API{host: cfg.Host, c: c, tr: tr, exits: exits, streams: sc, streamsTr: str, dial: dial}, nil
}

func newClient(rt http.RoundTripper) (*client.Client, error) {
	return client.NewClientWithOpts(
		// The host name is never resolved: every connection comes from
		// Dial. docker's own ssh:// helper uses the same placeholder.
		client.WithHost("http://docker.example.com"),
		client.WithHTTPClient(&http.Client{Transport: rt}),
		client.WithAPIVersionNegotiation(),
		// The client wraps its transport in OpenTelemetry instrumentation;
		// drover exports no traces or metrics, and the wrapper's attribute
		// sets were about a tenth of observe's allocations: every request
		// bypasses it (a filter that declines all).
		client.WithTraceOptions(otelhttp.WithFilter(func(*http.Request) bool { return false })),
	)
}

// Close closes the idle streams. Streams in use end with their calls.
func (a *API) Close() error {
	a.tr.CloseIdleConnections()
	a.streamsTr.CloseIdleConnections()
	a.streams.Close()
	return a.c.Close()
}

// Version returns the negotiated API version ("" before the first call).
func (a *API) Version() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.checked {
		return ""
	}
	return a.c.ClientVersion()
}

// ready negotiates the API version on first use and refuses an engine
// older than MinAPIVersion. A failure is not remembered: the next call
// tries again (the pool already remembers hosts that cannot be dialled).
func (a *API) ready(ctx context.Context) (*client.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.checked {
		return a.c, nil
	}
	p, err := a.c.Ping(ctx)
	if err != nil {
		return nil, a.classify(err)
	}
	if p.APIVersion == "" || versions.LessThan(p.APIVersion, MinAPIVersion) {
		v := p.APIVersion
		if v == "" {
			v = "unknown"
		}
		return nil, &HostError{
			Reason: fmt.Sprintf("docker engine API %s is older than %s, the oldest drover supports (Docker Engine 20.10)", v, MinAPIVersion),
			Err:    ErrEngineTooOld,
		}
	}
	a.c.NegotiateAPIVersionPing(p)
	a.streams.NegotiateAPIVersionPing(p)
	a.checked = true
	return a.c, nil
}

// DialStdioArgs is the command that carries the Engine API over an SSH
// session, as docker's own ssh:// hosts run it.
func DialStdioArgs(sudo bool) []string {
	if sudo {
		return []string{"sudo", "-n", "docker", "system", "dial-stdio"}
	}
	return []string{"docker", "system", "dial-stdio"}
}

// watchedConn remembers why a stream's command ended, so that a call that
// failed on it is classified by what docker (or sudo, or the shell) said
// rather than by the HTTP client's "connection broken".
type watchedConn struct {
	net.Conn
	exits *exitMemo
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.watch(err)
	return n, err
}

func (w *watchedConn) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.watch(err)
	return n, err
}

func (w *watchedConn) watch(err error) {
	if err == nil {
		return
	}
	if xe, ok := asExit(err); ok {
		w.exits.last.Store(xe)
	}
}

// CloseWrite half-closes when the stream supports it.
func (w *watchedConn) CloseWrite() error {
	if cw, ok := w.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
