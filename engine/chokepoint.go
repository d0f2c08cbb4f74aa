package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
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
}

// exitMemo holds the last failure of a stream's command on one host.
type exitMemo struct {
	last atomic.Pointer[ssh.ExitError]
}

var _ http.RoundTripper = (*chokePoint)(nil)

// reads are the methods that change nothing on the engine.
func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

func (c *chokePoint) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.dryRun && !isRead(req.Method) {
		return nil, &DryRunError{Host: c.host, Method: req.Method, Path: req.URL.Path}
	}
	start := time.Now()
	resp, err := c.next.RoundTrip(req)
	ev := c.log.Debug().Str("host", c.host).Str("method", req.Method).Str("path", req.URL.Path).Dur("took", time.Since(start))
	if err != nil {
		ev.Err(err).Msg("engine api")
		return nil, err
	}
	ev.Int("status", resp.StatusCode).Msg("engine api")
	return resp, nil
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
	if errors.As(err, &dr) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var he *HostError
	if errors.As(err, &he) {
		return err
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
