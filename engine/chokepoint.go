package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
	"github.com/rs/zerolog"

	"github.com/drover-sh/drover/ssh"
)

// ErrDryRun is returned for a call that would change a host during a dry
// run. Seeing it is a bug: a dry run must not try.
var ErrDryRun = errors.New("refused during a dry run")

// ErrEngineTooOld means the engine's API is older than MinAPIVersion.
var ErrEngineTooOld = errors.New("docker engine too old")

// DryRunError names the call a dry run refused.
type DryRunError struct {
	Host, Method, Path string
}

func (e *DryRunError) Error() string {
	return fmt.Sprintf("%s: %s %s %v", e.Host, e.Method, e.Path, ErrDryRun)
}
func (e *DryRunError) Unwrap() error { return ErrDryRun }

// chokePoint is the http.RoundTripper every Engine API call passes
// through: it refuses changes under dry run and writes the audit line.
// It never logs bodies: only method, path, status and duration.
type chokePoint struct {
	host   string
	dryRun bool
	log    zerolog.Logger
	next   http.RoundTripper
	// timeouts give each call its deadline by kind (requestKind);
	// liveness fails later calls at once after a read or change timed out.
	timeouts Timeouts
	liveness *Liveness
}

// exitMemo holds the last failure of a stream's command on one host, and
// why the last stream could not be opened (nil once one opened): the
// client words both as "cannot connect to the docker daemon".
type exitMemo struct {
	last atomic.Pointer[ssh.ExitError]
	dial atomic.Pointer[error]
}

func (m *exitMemo) dialed(err error) {
	if err == nil {
		m.dial.Store(nil)
		return
	}
	m.dial.Store(&err)
}

func (m *exitMemo) dialErr() error {
	if p := m.dial.Load(); p != nil {
		return *p
	}
	return nil
}

var _ http.RoundTripper = (*chokePoint)(nil)

// reads are the methods that change nothing on the engine.
func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

func (c *chokePoint) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.dryRun && !isRead(req.Method) {
		return nil, &DryRunError{Host: c.host, Method: req.Method, Path: req.URL.Path}
	}
	kind, extra := requestKind(req)
	if kind == opRead || kind == opChange {
		if err := c.liveness.Err(); err != nil {
			return nil, fmt.Errorf("not sent, docker stopped answering earlier in this run: %w", err)
		}
	}
	parent := req.Context()
	ctx, cancel := parent, context.CancelFunc(func() {})
	limit := c.timeouts.limit(kind)
	if limit > 0 {
		limit += extra
		ctx, cancel = context.WithTimeout(parent, limit)
		req = req.WithContext(ctx)
	}
	timedOut := func(err error) error {
		if limit > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
			te := &ssh.CommandTimeoutError{Host: c.host, Args: []string{"docker", "api", req.Method, apiPath(req.URL.Path)}, After: limit}
			c.liveness.note(kind, te)
			return te
		}
		return err
	}
	start := time.Now()
	resp, err := c.next.RoundTrip(req)
	if err != nil && brokenStream(err) && parent.Err() == nil && ctx.Err() == nil {
		if isRead(req.Method) && req.Body == nil {
			// A read changes nothing: run it again on a new stream (the
			// pool redials a connection that died, once per run).
			resp, err = c.next.RoundTrip(req)
		}
		if err != nil && !isRead(req.Method) {
			// The stream broke under a change: it may have been applied.
			err = &ssh.ConnectionLostError{Host: c.host, Args: []string{"docker", "api", req.Method, apiPath(req.URL.Path)}, Started: true, Err: err}
		}
	}
	ev := c.log.Debug().Str("host", c.host).Str("method", req.Method).Str("path", req.URL.Path).Dur("took", time.Since(start))
	if err != nil {
		cancel()
		err = timedOut(err)
		ev.Err(err).Msg("engine api")
		return nil, err
	}
	ev.Int("status", resp.StatusCode).Msg("engine api")
	// The deadline covers the body too (an inspect's JSON, a load's
	// progress): it ends when the caller closes the body.
	resp.Body = &deadlineBody{ReadCloser: resp.Body, cancel: cancel, timedOut: timedOut}
	return resp, nil
}

// deadlineBody ends a call's deadline when its body is closed, and words
// a read cut off by the deadline as the call's timeout.
type deadlineBody struct {
	io.ReadCloser
	cancel   context.CancelFunc
	timedOut func(error) error
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = b.timedOut(err)
	}
	return n, err
}

func (b *deadlineBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// brokenStream reports whether a call failed because its stream ended
// under it (the SSH connection or the dial-stdio process died), not
// because the engine answered with an error.
func brokenStream(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ssh.ErrConnectionLost) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// requestKind says which of Timeouts bounds a call, and how much longer a
// stop may take (its grace period, the query's t seconds).
func requestKind(req *http.Request) (opKind, time.Duration) {
	p := apiPath(req.URL.Path)
	q := req.URL.Query()
	switch {
	case strings.HasSuffix(p, "/logs"), strings.HasPrefix(p, "/events"), strings.HasSuffix(p, "/wait"), strings.HasSuffix(p, "/attach"):
		if f := q.Get("follow"); f == "1" || f == "true" || !strings.HasSuffix(p, "/logs") {
			return opFollow, 0
		}
		return opTransfer, 0
	case strings.HasPrefix(p, "/images/load"), strings.HasPrefix(p, "/images/create"), strings.HasPrefix(p, "/images/get"), strings.HasSuffix(p, "/get"), p == "/build":
		return opTransfer, 0
	case isRead(req.Method):
		return opRead, 0
	case strings.HasSuffix(p, "/stop"), strings.HasSuffix(p, "/restart"):
		if t, err := strconv.Atoi(q.Get("t")); err == nil && t > 0 {
			return opChange, time.Duration(t) * time.Second
		}
	}
	return opChange, 0
}

// apiPath drops the API version prefix ("/v1.41/containers/json" →
// "/containers/json").
func apiPath(p string) string {
	if strings.HasPrefix(p, "/v") {
		if i := strings.IndexByte(p[1:], '/'); i >= 0 {
			return p[i+1:]
		}
	}
	return p
}

// classify turns a failed call into the typed errors callers branch on:
// a HostError with a reason when the stream's command said why docker
// cannot be used, ErrDockerDown when the engine does not answer. API
// errors (not found, conflict) pass through for errdefs checks.
func (a *API) classify(err error) error {
	if err == nil {
		return nil
	}
	var dr *DryRunError
	if errors.As(err, &dr) || errors.Is(err, context.Canceled) {
		return err
	}
	var te *ssh.CommandTimeoutError
	if errors.As(err, &te) {
		// The call's deadline (chokePoint): the same reason as the CLI's.
		return classify(te)
	}
	var lost *ssh.ConnectionLostError
	if errors.As(err, &lost) {
		// A change whose stream died: say it may have run, as for commands.
		return lost
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var he *HostError
	if errors.As(err, &he) {
		return err
	}
	if de := a.exits.dialErr(); de != nil && client.IsErrConnectionFailed(err) {
		var xe *ssh.ExitError
		if !errors.As(de, &xe) {
			// No stream to the host at all (the SSH connection could not
			// be redialled): the transport's error and reason, not docker's.
			return fmt.Errorf("%s: open a stream to the engine: %w", a.host, de)
		}
	}
	xe, ok := asExit(err)
	if !ok {
		xe = a.exits.last.Load()
	}
	if xe != nil {
		if r := reasonFor(xe.Stderr, xe.Code); r != "" {
			return &HostError{Reason: r, Err: fmt.Errorf("%w: %w", ErrDockerDown, xe)}
		}
	}
	if client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) {
		if xe != nil {
			return fmt.Errorf("%s: %w: %w", a.host, ErrDockerDown, xe)
		}
		return fmt.Errorf("%s: %w: %w", a.host, ErrDockerDown, err)
	}
	return err
}

func asExit(err error) (*ssh.ExitError, bool) {
	var xe *ssh.ExitError
	if errors.As(err, &xe) {
		return xe, true
	}
	return nil, false
}
