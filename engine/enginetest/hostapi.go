package enginetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/docker/docker/api/types/system"

	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/ssh"
)

// The Engine API of a Host: the endpoints drover calls, on the host's
// simulated state, with the engine's paths, status codes and JSON shapes
// (docker's own api/types), so that the official client and drover's
// code meet what a real engine answers.

// DialCommand opens a stream to the host's engine as the transport does
// for `docker system dial-stdio` (argv as engine.DialStdioArgs writes it).
// What the host is set to fail (down, no docker, docker needing sudo, sudo
// needing a password, the daemon down) fails the stream the way the real
// command does: a dial error, or a stream whose reads end in the
// command's *ssh.ExitError.
func (h *Host) DialCommand(ctx context.Context, argv []string) (net.Conn, error) {
	h.mu.Lock()
	h.streams = append(h.streams, append([]string(nil), argv...))
	down, noDocker, needSudo, sudoPass, daemonDown := h.down, h.noDocker, h.needSudo, h.sudoPass, h.daemonDown
	h.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if down {
		return nil, h.dialError()
	}
	sudo := len(argv) > 0 && argv[0] == "sudo"
	if !equal(argv, engine.DialStdioArgs(sudo)) {
		return h.failedStream(argv, 127, "enginetest: command "+ssh.Join(argv)+" not simulated"), nil
	}
	switch {
	case sudo && sudoPass:
		return h.failedStream(argv, 1, "sudo: a password is required"), nil
	case noDocker:
		return h.failedStream(argv, 127, "sh: 1: docker: not found"), nil
	case needSudo && !sudo:
		return h.failedStream(argv, 1, "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get \"http://%2Fvar%2Frun%2Fdocker.sock/_ping\": dial unix /var/run/docker.sock: connect: permission denied"), nil
	case daemonDown:
		return h.failedStream(argv, 1, "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"), nil
	}
	h.once.Do(func() {
		h.ln = &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
		h.srv = &http.Server{Handler: h, ConnState: h.track}
		go h.srv.Serve(h.ln)
	})
	client, server := net.Pipe()
	select {
	case h.ln.conns <- server:
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// track keeps the open streams, which SetDown cuts.
func (h *Host) track(c net.Conn, st http.ConnState) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.open == nil {
		h.open = map[net.Conn]bool{}
	}
	if st == http.StateClosed || st == http.StateHijacked {
		delete(h.open, c)
		return
	}
	h.open[c] = true
}

// failedStream is the stream of a command that exited at once.
func (h *Host) failedStream(argv []string, code int, stderr string) net.Conn {
	return &exitedConn{err: &ssh.ExitError{Host: h.Name, Args: append([]string(nil), argv[:min(2, len(argv))]...), Code: code, Stderr: stderr}}
}

// exitedConn is a stream whose command has ended: reads and writes fail
// with its exit.
type exitedConn struct {
	net.Conn // nil: only the methods below are called
	err      error
}

func (c *exitedConn) Read([]byte) (int, error) { return 0, c.err }

func (c *exitedConn) Write([]byte) (int, error) { return 0, c.err }

func (c *exitedConn) Close() error { return nil }

func (c *exitedConn) LocalAddr() net.Addr { return pipeAddr{} }

func (c *exitedConn) RemoteAddr() net.Addr { return pipeAddr{} }

func (c *exitedConn) SetDeadline(time.Time) error { return nil }

func (c *exitedConn) SetReadDeadline(time.Time) error { return nil }

func (c *exitedConn) SetWriteDeadline(time.Time) error { return nil }

// Close stops serving the host's engine.
func (h *Host) Close() error {
	h.mu.Lock()
	srv, ln := h.srv, h.ln
	h.mu.Unlock()
	if srv == nil {
		return nil
	}
	ln.Close()
	return srv.Close()
}

// apiErr is an engine error answer: a status and {"message": ...}.
type apiErr struct {
	code int
	msg  string
}

func (e *apiErr) Error() string { return e.msg }

func errf(code int, format string, a ...any) *apiErr {
	return &apiErr{code: code, msg: fmt.Sprintf(format, a...)}
}

// ServeHTTP answers one Engine API request.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	call := r.Method + " " + path
	h.mu.Lock()
	h.calls++
	line := call
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	h.requests = append(h.requests, line)
	latency, stuck := h.Latency, h.stuck
	var rule *failRule
	for i, f := range h.fail {
		if strings.Contains(call, f.pattern) {
			rule = &h.fail[i]
			h.fail = append(h.fail[:i:i], h.fail[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
	if stuck {
		<-r.Context().Done() // a stopped dockerd accepts and never answers
		return
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if rule != nil {
		apiError(w, rule.code, rule.stderr)
		return
	}
	if path == "/_ping" {
		v := h.APIVersion
		if v == "" {
			v = DefaultAPIVersion
		}
		w.Header().Set("Api-Version", v)
		w.Header().Set("Ostype", "linux")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write([]byte("OK"))
		}
		return
	}
	if r.Method == http.MethodGet && path == "/events" {
		h.events(w, r)
		return
	}
	if r.Method == http.MethodGet && strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/logs") {
		h.containerLogs(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/logs"))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	v, err := h.route(r, path)
	switch {
	case err != nil:
		var ae *apiErr
		if !errors.As(err, &ae) {
			ae = errf(http.StatusInternalServerError, "%s", err)
		}
		apiError(w, ae.code, ae.msg)
	case v == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		if s, ok := v.(status); ok {
			w.WriteHeader(int(s))
			return
		}
		if c, ok := v.(created); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(c.v)
			return
		}
		if s, ok := v.(stream); ok {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s)
			return
		}
		writeJSON(w, v)
	}
}

// status is an answer without a body; created a 201 with one; stream a
// body already encoded (a JSON document, or the JSON-lines progress of a
// pull or load).
type (
	status  int
	created struct{ v any }
	stream  []byte
)

// route serves everything but logs, with h.mu held.
func (h *Host) route(r *http.Request, path string) (any, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	q := r.URL.Query()
	get, post, del := r.Method == http.MethodGet || r.Method == http.MethodHead, r.Method == http.MethodPost, r.Method == http.MethodDelete
	switch {
	case path == "/info" && get:
		return h.info(), nil
	case path == "/containers/json" && get:
		return h.listContainers(q)
	case path == "/containers/create" && post:
		return h.createContainer(r)
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "json" && get:
		c := h.lookup(parts[1])
		if c == nil {
			return nil, errf(http.StatusNotFound, "No such container: %s", parts[1])
		}
		return stream(c.inspectBytes(h.now())), nil
	case len(parts) == 3 && parts[0] == "containers" && parts[2] == "start" && post:
		return h.start(parts[1])
	case len(parts) == 3 && parts[0] == "containers" && (parts[2] == "stop" || parts[2] == "kill") && post:
		return h.stop(parts[1], parts[2], q)
	case len(parts) == 2 && parts[0] == "containers" && del:
		return h.removeContainer(parts[1], q)
	case path == "/networks" && get:
		return h.listNetworks(q)
	case path == "/networks/create" && post:
		return h.createNetwork(r)
	case len(parts) == 3 && parts[0] == "networks" && parts[2] == "connect" && post:
		return h.connectNetwork(r, parts[1])
	case len(parts) == 2 && parts[0] == "networks" && del:
		return h.removeNetwork(parts[1])
	case path == "/volumes" && get:
		return h.listVolumes(q)
	case path == "/volumes/create" && post:
		return h.createVolume(r)
	case len(parts) == 2 && parts[0] == "volumes" && del:
		return h.removeVolume(parts[1])
	case path == "/images/json" && get:
		return h.listImages(q)
	case path == "/build" && post:
		return h.build(r)
	case len(parts) >= 3 && parts[0] == "images" && parts[len(parts)-1] == "tag" && post:
		return h.tagImage(strings.Join(parts[1:len(parts)-1], "/"), q)
	case len(parts) >= 2 && parts[0] == "images" && del:
		return h.removeImage(strings.Join(parts[1:], "/"))
	case path == "/images/create" && post:
		return h.pull(q)
	case path == "/images/load" && post:
		return h.loadImages(r)
	case len(parts) >= 3 && parts[0] == "images" && parts[len(parts)-1] == "json" && get:
		return h.inspectImage(strings.Join(parts[1:len(parts)-1], "/"))
	}
	return nil, errf(http.StatusNotImplemented, "enginetest: %s %s is not simulated", r.Method, path)
}

func (h *Host) info() system.Info {
	running := 0
	for _, c := range h.containers {
		if c.State == "running" {
			running++
		}
	}
	return system.Info{
		ID: "FAKE:" + h.Name, Containers: len(h.containers), ContainersRunning: running, Images: len(h.images),
		Driver: "overlay2", KernelVersion: "6.8.0-enginetest", OperatingSystem: "Enginetest Linux",
		OSType: h.Facts.OSType, Architecture: h.Facts.Architecture, NCPU: h.Facts.NCPU, MemTotal: h.Facts.MemTotal,
		Name: h.Facts.Name, ServerVersion: h.Facts.ServerVersion,
	}
}
