package enginetest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

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

func (c *exitedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c *exitedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c *exitedConn) Close() error                     { return nil }
func (c *exitedConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *exitedConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *exitedConn) SetDeadline(time.Time) error      { return nil }
func (c *exitedConn) SetReadDeadline(time.Time) error  { return nil }
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
		return h.listImages(), nil
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

func (h *Host) listContainers(q map[string][]string) (any, error) {
	args, err := filters.FromJSON(first(q, "filters"))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	all := first(q, "all") == "1" || first(q, "all") == "true"
	var list []*ctr
	for _, c := range h.containers {
		if (all || c.State == "running" || c.State == "restarting") && args.MatchKVList("label", c.Labels) {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq > list[j].seq }) // newest first, as docker
	out := make([]container.Summary, 0, len(list))
	for _, c := range list {
		out = append(out, container.Summary{ID: c.ID, Names: []string{"/" + c.Name}, Image: c.Image, ImageID: c.ImageID,
			Created: c.Created.Unix(), Labels: c.Labels, State: container.ContainerState(c.State)})
	}
	return out, nil
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h *Host) createContainer(r *http.Request) (any, error) {
	var req container.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Config == nil {
		return nil, errf(http.StatusBadRequest, "bad create request: %v", err)
	}
	h.created = append(h.created, req)
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "fake_" + h.newID("name")[:8]
	}
	if old := h.lookupName(name); old != nil {
		return nil, errf(http.StatusConflict, "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, old.ID)
	}
	hc := req.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	ref := req.Config.Image
	norm := engine.NormalizeRef(ref)
	imageID, ok := h.images[norm]
	if !ok {
		return nil, errf(http.StatusNotFound, "No such image: %s", norm)
	}
	c := &ctr{Container: Container{
		Name: name, Image: ref, ImageID: imageID, Labels: copyMap(req.Config.Labels), State: "created",
		Ports: map[string][]PortBinding{}, Networks: map[string][]string{},
		Env: append([]string(nil), req.Config.Env...), Cmd: append([]string(nil), req.Config.Cmd...),
		Entrypoint: strings.Join(req.Config.Entrypoint, " "),
		NanoCPUs:   hc.NanoCPUs, Memory: hc.Memory,
	}, req: req}
	if hc.PidsLimit != nil {
		c.PidsLimit = *hc.PidsLimit
	}
	if req.Config.StopTimeout != nil {
		c.StopTimeout = strconv.Itoa(*req.Config.StopTimeout)
	}
	switch p := hc.RestartPolicy; {
	case p.Name == "on-failure" && p.MaximumRetryCount > 0:
		c.Restart = "on-failure:" + strconv.Itoa(p.MaximumRetryCount)
	case p.Name != "" && p.Name != "no":
		c.Restart = string(p.Name)
	}
	if r := c.Restart; r != "" && r != "no" && r != "always" && r != "unless-stopped" && !strings.HasPrefix(r, "on-failure") {
		return nil, errf(http.StatusBadRequest, "invalid restart policy: unknown policy '%s'", r)
	}
	for port, binds := range hc.PortBindings {
		for _, b := range binds {
			c.Ports[string(port)] = append(c.Ports[string(port)], PortBinding{HostIP: b.HostIP, HostPort: b.HostPort})
		}
	}
	for _, m := range hc.Mounts {
		if m.Type == mount.TypeVolume && m.Source != "" && h.volumes[m.Source] == nil {
			h.volumes[m.Source] = &Volume{Name: m.Source, Driver: "local", Labels: map[string]string{}, Options: map[string]string{}}
		}
		c.Mounts = append(c.Mounts, "type="+string(m.Type)+",source="+m.Source+",target="+m.Target)
	}
	var eps map[string]*network.EndpointSettings
	if req.NetworkingConfig != nil {
		eps = req.NetworkingConfig.EndpointsConfig
	}
	if len(eps) > 1 && versionBelow(h.APIVersion, "1.44") {
		return nil, errf(http.StatusBadRequest, "Container cannot be connected to network endpoints: %d", len(eps))
	}
	for n, ep := range eps {
		nw := h.findNetwork(n)
		if nw == nil {
			return nil, errf(http.StatusNotFound, "network %s not found", n)
		}
		var aliases []string
		if ep != nil {
			aliases = append(aliases, ep.Aliases...)
		}
		c.Networks[nw.Name] = aliases
	}
	if len(c.Networks) == 0 {
		mode := string(hc.NetworkMode)
		if mode == "" || mode == "default" {
			mode = "bridge"
		}
		c.Networks[mode] = nil
	}
	c.behaviour = h.behaviour[norm]
	hasCheck := req.Config.Healthcheck != nil && len(req.Config.Healthcheck.Test) > 0
	disabled := hasCheck && req.Config.Healthcheck.Test[0] == "NONE"
	c.HasHealthcheck = (hasCheck || c.behaviour.Health != "") && !disabled
	c.ID = h.newID("container/" + name)
	c.seq, c.rev = h.seq, 1
	c.Created = h.now()
	h.containers[c.ID] = c
	h.record([]string{"create", name}, name)
	return created{container.CreateResponse{ID: c.ID, Warnings: []string{}}}, nil
}

// versionBelow compares API versions ("" is the fake's default, 1.41).
func versionBelow(v, than string) bool {
	if v == "" {
		v = DefaultAPIVersion
	}
	maj, min, _ := strings.Cut(v, ".")
	tmaj, tmin, _ := strings.Cut(than, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(min)
	c, _ := strconv.Atoi(tmaj)
	d, _ := strconv.Atoi(tmin)
	return a < c || a == c && b < d
}

func (h *Host) start(ref string) (any, error) {
	c := h.lookup(ref)
	if c == nil {
		return nil, errf(http.StatusNotFound, "No such container: %s", ref)
	}
	if c.State == "running" || c.State == "restarting" {
		return status(http.StatusNotModified), nil
	}
	if msg := h.portConflict(c); msg != "" {
		return nil, errf(http.StatusInternalServerError, "driver failed programming external connectivity on endpoint %s (%s): %s", c.Name, c.ID[:12], msg)
	}
	now := h.now()
	c.rev++
	c.StartedAt, c.FinishedAt, c.ExitCode = now, time.Time{}, 0
	c.State = "running"
	if b := c.behaviour; b.ExitImmediately {
		c.ExitCode, c.FinishedAt = b.ExitCode, now
		if restarts(c.Restart, b.ExitCode) {
			c.State, c.RestartCount = "restarting", c.RestartCount+1
		} else {
			c.State = "exited"
		}
	}
	h.record([]string{"start", ref}, c.Name)
	return nil, nil
}

// restarts reports whether docker's restart policy restarts a process
// that exited with code.
func restarts(policy string, code int) bool {
	switch {
	case policy == "always", policy == "unless-stopped":
		return true
	case strings.HasPrefix(policy, "on-failure"):
		return code != 0
	}
	return false
}

// portConflict says why c cannot bind its published ports.
func (h *Host) portConflict(c *ctr) string {
	for key, binds := range c.Ports {
		_, proto, _ := strings.Cut(key, "/")
		for _, b := range binds {
			if b.HostPort == "" {
				continue
			}
			for _, o := range h.containers {
				if o == c || (o.State != "running" && o.State != "restarting") {
					continue
				}
				for okey, obinds := range o.Ports {
					if _, oproto, _ := strings.Cut(okey, "/"); oproto != proto {
						continue
					}
					for _, ob := range obinds {
						if ob.HostPort == b.HostPort && ipOverlap(ob.HostIP, b.HostIP) {
							ip := b.HostIP
							if ip == "" {
								ip = "0.0.0.0"
							}
							return fmt.Sprintf("Bind for %s:%s failed: port is already allocated", ip, b.HostPort)
						}
					}
				}
			}
		}
	}
	return ""
}

func ipOverlap(a, b string) bool {
	any := func(s string) bool { return s == "" || s == "0.0.0.0" || s == "::" }
	return any(a) || any(b) || a == b
}

// stop serves stop (with ?t=, the grace period) and kill.
func (h *Host) stop(ref, verb string, q map[string][]string) (any, error) {
	c := h.lookup(ref)
	if c == nil {
		return nil, errf(http.StatusNotFound, "No such container: %s", ref)
	}
	if t := first(q, "t"); t != "" {
		if _, err := strconv.Atoi(t); err != nil {
			return nil, errf(http.StatusBadRequest, "invalid value for t: %s", t)
		}
	}
	if c.State != "running" && c.State != "restarting" {
		if verb == "kill" {
			return nil, errf(http.StatusConflict, "cannot kill container: %s: container %s is not running", ref, c.ID)
		}
		return status(http.StatusNotModified), nil
	}
	c.State, c.ExitCode, c.FinishedAt = "exited", 0, h.now()
	if verb == "kill" {
		c.ExitCode = 137
	}
	c.rev++
	args := []string{verb, ref}
	if t := first(q, "t"); t != "" {
		args = []string{verb, "--time", t, ref}
	}
	h.record(args, c.Name)
	return nil, nil
}

func (h *Host) removeContainer(ref string, q map[string][]string) (any, error) {
	c := h.lookup(ref)
	if c == nil {
		return nil, errf(http.StatusNotFound, "No such container: %s", ref)
	}
	force := first(q, "force") == "1" || first(q, "force") == "true"
	if (c.State == "running" || c.State == "restarting") && !force {
		return nil, errf(http.StatusConflict, "cannot remove container \"/%s\": container is running: stop the container before removing or force remove", c.Name)
	}
	if c.State == "running" || c.State == "restarting" {
		h.emit(events.ActionDie, c)
	}
	h.emit(events.ActionDestroy, c)
	delete(h.containers, c.ID)
	args := []string{"rm", ref}
	if force {
		args = []string{"rm", "--force", ref}
	}
	h.record(args, c.Name)
	return nil, nil
}

func (h *Host) listNetworks(q map[string][]string) (any, error) {
	args, err := filters.FromJSON(first(q, "filters"))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	out := []network.Summary{}
	for _, name := range sortedNames(h.networks) {
		n := h.networks[name]
		if args.MatchKVList("label", n.Labels) {
			out = append(out, network.Summary{ID: n.ID, Name: n.Name, Driver: n.Driver, Internal: n.Internal, Scope: "local", Labels: copyMap(n.Labels)})
		}
	}
	return out, nil
}

func (h *Host) createNetwork(r *http.Request) (any, error) {
	var req network.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	if _, ok := h.networks[req.Name]; ok {
		return nil, errf(http.StatusConflict, "network with name %s already exists", req.Name)
	}
	n := &Network{ID: h.newID("network/" + req.Name), Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: copyMap(req.Labels)}
	if n.Driver == "" {
		n.Driver = "bridge"
	}
	h.networks[req.Name] = n
	h.record([]string{"network", "create", req.Name}, "")
	return created{network.CreateResponse{ID: n.ID}}, nil
}

func (h *Host) connectNetwork(r *http.Request, ref string) (any, error) {
	var req network.ConnectOptions
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	n := h.findNetwork(ref)
	if n == nil {
		return nil, errf(http.StatusNotFound, "network %s not found", ref)
	}
	c := h.lookup(req.Container)
	if c == nil {
		return nil, errf(http.StatusNotFound, "No such container: %s", req.Container)
	}
	if _, ok := c.Networks[n.Name]; ok {
		return nil, errf(http.StatusForbidden, "endpoint with name %s already exists in network %s", c.Name, n.Name)
	}
	var aliases []string
	if req.EndpointConfig != nil {
		aliases = append(aliases, req.EndpointConfig.Aliases...)
	}
	c.Networks[n.Name] = aliases
	c.rev++
	h.record([]string{"network", "connect", n.Name, req.Container}, c.Name)
	return status(http.StatusOK), nil
}

func (h *Host) removeNetwork(ref string) (any, error) {
	n := h.findNetwork(ref)
	if n == nil {
		return nil, errf(http.StatusNotFound, "network %s not found", ref)
	}
	if n.Name == "bridge" || n.Name == "host" || n.Name == "none" {
		return nil, errf(http.StatusForbidden, "%s is a pre-defined network and cannot be removed", n.Name)
	}
	for _, c := range h.containers {
		if _, ok := c.Networks[n.Name]; ok && (c.State == "running" || c.State == "restarting") {
			return nil, errf(http.StatusForbidden, "error while removing network: network %s id %s has active endpoints", n.Name, n.ID)
		}
	}
	delete(h.networks, n.Name)
	h.record([]string{"network", "rm", n.Name}, "")
	return nil, nil
}

func (h *Host) listVolumes(q map[string][]string) (any, error) {
	args, err := filters.FromJSON(first(q, "filters"))
	if err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	out := volume.ListResponse{Volumes: []*volume.Volume{}, Warnings: []string{}}
	for _, name := range sortedNames(h.volumes) {
		v := h.volumes[name]
		if args.MatchKVList("label", v.Labels) {
			out.Volumes = append(out.Volumes, v.api())
		}
	}
	return out, nil
}

func (v *Volume) api() *volume.Volume {
	return &volume.Volume{Name: v.Name, Driver: v.Driver, Labels: copyMap(v.Labels), Options: copyMap(v.Options),
		Mountpoint: "/var/lib/docker/volumes/" + v.Name + "/_data", Scope: "local"}
}

func (h *Host) createVolume(r *http.Request) (any, error) {
	var req volume.CreateOptions
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		return nil, errf(http.StatusBadRequest, "%s", err)
	}
	if v, ok := h.volumes[req.Name]; ok {
		return created{v.api()}, nil // as docker: creating an existing volume returns it
	}
	v := &Volume{Name: req.Name, Driver: req.Driver, Options: copyMap(req.DriverOpts), Labels: copyMap(req.Labels)}
	if v.Driver == "" {
		v.Driver = "local"
	}
	h.volumes[v.Name] = v
	h.record([]string{"volume", "create", v.Name}, "")
	return created{v.api()}, nil
}

func (h *Host) removeVolume(name string) (any, error) {
	if _, ok := h.volumes[name]; !ok {
		return nil, errf(http.StatusNotFound, "get %s: no such volume", name)
	}
	for _, c := range h.containers {
		for _, m := range c.Mounts {
			if strings.Contains(m, ",source="+name+",") {
				return nil, errf(http.StatusConflict, "remove %s: volume is in use - [%s]", name, c.ID)
			}
		}
	}
	delete(h.volumes, name)
	h.record([]string{"volume", "rm", name}, "")
	return nil, nil
}

func (h *Host) listImages() []image.Summary {
	byID := map[string][]string{}
	for _, ref := range sortedNames(h.images) {
		byID[h.images[ref]] = append(byID[h.images[ref]], ref)
	}
	out := make([]image.Summary, 0, len(byID))
	for _, id := range sortedNames(byID) {
		out = append(out, image.Summary{ID: id, RepoTags: byID[id], RepoDigests: []string{}, Labels: map[string]string{}, Size: 1 << 20})
	}
	return out
}

func (h *Host) inspectImage(ref string) (any, error) {
	id, ok := h.images[engine.NormalizeRef(ref)]
	if !ok && strings.HasPrefix(ref, "sha256:") {
		for _, v := range h.images {
			if v == ref {
				id, ok = v, true
			}
		}
	}
	if !ok {
		return nil, errf(http.StatusNotFound, "No such image: %s", ref)
	}
	var tags []string
	for _, r := range sortedNames(h.images) {
		if h.images[r] == id {
			tags = append(tags, r)
		}
	}
	p, ok := h.platforms[id]
	if !ok {
		p = [3]string{h.Facts.OSType, engine.GoArch(h.Facts.Architecture), engine.GoVariant(h.Facts.Architecture)}
	}
	return image.InspectResponse{ID: id, RepoTags: tags, RepoDigests: []string{}, Os: p[0], Architecture: p[1], Variant: p[2], Size: 1 << 20}, nil
}

// pull serves POST /images/create?fromImage=REPO&tag=TAG from the
// registry. Errors before the first byte are HTTP errors, as docker's.
func (h *Host) pull(q map[string][]string) (any, error) {
	ref := first(q, "fromImage")
	if t := first(q, "tag"); t != "" {
		if strings.HasPrefix(t, "sha256:") {
			ref += "@" + t
		} else {
			ref += ":" + t
		}
	}
	norm := engine.NormalizeRef(ref)
	id, ok, repoKnown := h.Registry.lookup(ref)
	if !ok {
		if repoKnown {
			return nil, errf(http.StatusNotFound, "manifest for %s not found: manifest unknown: manifest unknown", norm)
		}
		return nil, errf(http.StatusNotFound, "pull access denied for %s, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", repoOf(norm))
	}
	h.images[norm] = id
	h.record([]string{"pull", norm}, "")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.Encode(map[string]string{"status": "Pulling from " + repoOf(norm), "id": norm[len(repoOf(norm))+1:]})
	enc.Encode(map[string]string{"status": "Digest: " + id})
	enc.Encode(map[string]string{"status": "Status: Downloaded newer image for " + norm})
	return stream(b.Bytes()), nil
}

// loadImages serves POST /images/load: a `docker save` tar, plain or
// gzip'd (the engine detects the compression).
func (h *Host) loadImages(r *http.Request) (any, error) {
	br := bufio.NewReader(r.Body)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, errf(http.StatusInternalServerError, "%s", err)
		}
		in = zr
	}
	type entry struct {
		Config   string
		RepoTags []string
	}
	var manifest []entry
	tr := tar.NewReader(in)
	n := 0
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return nil, errf(http.StatusInternalServerError, "unexpected EOF")
			}
			return nil, errf(http.StatusInternalServerError, "Error processing tar file(exit status 1): unexpected EOF")
		}
		n++
		if hd.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				return nil, errf(http.StatusInternalServerError, "Error processing tar file: invalid manifest.json: %s", err)
			}
		}
	}
	if manifest == nil {
		return nil, errf(http.StatusInternalServerError, "open /var/lib/docker/tmp/docker-import/repositories: no such file or directory")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, m := range manifest {
		hex := strings.TrimSuffix(m.Config, ".json")
		id := "sha256:" + hex[strings.LastIndexByte(hex, '/')+1:]
		if len(m.RepoTags) == 0 {
			enc.Encode(map[string]string{"stream": "Loaded image ID: " + id + "\n"})
		}
		for _, t := range m.RepoTags {
			h.images[engine.NormalizeRef(t)] = id
			enc.Encode(map[string]string{"stream": "Loaded image: " + t + "\n"})
		}
	}
	h.record([]string{"load"}, "")
	return stream(b.Bytes()), nil
}

// containerLogs writes the image's logs multiplexed (drover never asks
// for a TTY); with follow=1 it holds the stream until the container stops
// or the client goes away.
func (h *Host) containerLogs(w http.ResponseWriter, r *http.Request, ref string) {
	q := r.URL.Query()
	h.mu.Lock()
	c := h.lookup(ref)
	if c == nil {
		h.mu.Unlock()
		apiError(w, http.StatusNotFound, "No such container: "+ref)
		return
	}
	id, logs, stderr, started := c.ID, c.behaviour.Logs, c.behaviour.Stderr, c.StartedAt
	h.mu.Unlock()
	lines := strings.SplitAfter(logs, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if t := q.Get("tail"); t != "" && t != "all" {
		if n, err := strconv.Atoi(t); err == nil && n >= 0 && n < len(lines) {
			lines = lines[len(lines)-n:]
		}
	}
	w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	w.WriteHeader(http.StatusOK)
	out := stdcopy.NewStdWriter(w, stdcopy.Stdout)
	for _, l := range lines {
		if q.Get("timestamps") == "1" || q.Get("timestamps") == "true" {
			l = dockerTime(started) + " " + l
		}
		if !strings.HasSuffix(l, "\n") {
			l += "\n"
		}
		io.WriteString(out, l)
	}
	if stderr != "" {
		io.WriteString(stdcopy.NewStdWriter(w, stdcopy.Stderr), stderr)
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if q.Get("follow") != "1" && q.Get("follow") != "true" {
		return
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		c, ok := h.containers[id]
		up := ok && (c.State == "running" || c.State == "restarting")
		h.mu.Unlock()
		if !up {
			return
		}
	}
}

func dockerTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// inspectBytes renders the container's inspect JSON, reusing the last
// rendering while nothing changed (benchmarks measure drover, not the
// fake).
func (c *ctr) inspectBytes(now time.Time) []byte {
	health := c.health(now)
	if c.cached != nil && c.cachedRev == c.rev && c.cachedHealth == health {
		return c.cached
	}
	b, _ := json.Marshal(c.inspectAPI(now))
	c.cached, c.cachedRev, c.cachedHealth = b, c.rev, health
	return b
}

// inspectAPI renders the container as GET /containers/{id}/json does.
func (c *ctr) inspectAPI(now time.Time) container.InspectResponse {
	st := c.State
	if c.Paused && c.State == "running" {
		st = "paused"
	}
	state := &container.State{
		Status: container.ContainerState(st), Running: c.State == "running" || c.State == "restarting", Restarting: c.State == "restarting",
		Paused: c.Paused && c.State == "running", ExitCode: c.ExitCode, StartedAt: dockerTime(c.StartedAt), FinishedAt: dockerTime(c.FinishedAt),
	}
	if state.Running {
		state.Pid = 4242
	}
	if c.HasHealthcheck && !c.StartedAt.IsZero() {
		hs := c.health(now)
		state.Health = &container.Health{Status: container.HealthStatus(hs), Log: []*container.HealthcheckResult{}}
		// One probe record: when the health settled, with its outcome.
		if hs != "starting" {
			at := c.StartedAt.Add(c.behaviour.HealthAfter)
			code := 0
			if hs == "unhealthy" {
				code, state.Health.FailingStreak = 1, 1
			}
			state.Health.Log = append(state.Health.Log, &container.HealthcheckResult{Start: at, End: at, ExitCode: code})
		}
	}
	hc := container.HostConfig{NetworkMode: "bridge", PortBindings: nat.PortMap{}}
	if c.req.HostConfig != nil {
		hc = *c.req.HostConfig
		hc.PortBindings = nat.PortMap{}
	}
	for k, bs := range c.Ports {
		for _, b := range bs {
			hc.PortBindings[nat.Port(k)] = append(hc.PortBindings[nat.Port(k)], nat.PortBinding{HostIP: b.HostIP, HostPort: b.HostPort})
		}
	}
	name, retries, _ := strings.Cut(c.Restart, ":")
	if name == "" {
		name = "no"
	}
	hc.RestartPolicy.Name = container.RestartPolicyMode(name)
	hc.RestartPolicy.MaximumRetryCount, _ = strconv.Atoi(retries)
	hc.NanoCPUs, hc.Memory, hc.PidsLimit = c.NanoCPUs, c.Memory, nil
	if c.PidsLimit != 0 {
		pl := c.PidsLimit
		hc.PidsLimit = &pl
	}
	cfg := container.Config{Hostname: c.ID[:12], Labels: copyMap(c.Labels), Env: append([]string{}, c.Env...), Cmd: c.Cmd, Image: c.Image}
	if c.req.Config != nil {
		cfg.Healthcheck = c.req.Config.Healthcheck
		cfg.StopTimeout = c.req.Config.StopTimeout
		cfg.Entrypoint = c.req.Config.Entrypoint
	}
	nets := map[string]*network.EndpointSettings{}
	for n, al := range c.Networks {
		nets[n] = &network.EndpointSettings{Aliases: append([]string(nil), al...)}
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: c.ID, Created: dockerTime(c.Created), Path: "/app", Args: c.Cmd, State: state, Image: c.ImageID,
			Name: "/" + c.Name, RestartCount: c.RestartCount, HostConfig: &hc, Driver: "overlay2",
		},
		Mounts:          []container.MountPoint{},
		Config:          &cfg,
		NetworkSettings: &container.NetworkSettings{Networks: nets},
	}
}

// events streams container events (start, die, destroy) as they happen,
// matched against the request's filters (type, container by ID or name,
// event), until the client goes away. Health changes follow the host's
// clock without a call, so they are not sent: clients must not rely on
// events alone (neither may they on a real engine: a stream opened late
// misses what came before).
func (h *Host) events(w http.ResponseWriter, r *http.Request) {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	ch := make(chan events.Message, 64)
	h.mu.Lock()
	h.subs = append(h.subs, subscriber{args: args, ch: ch})
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		for i, s := range h.subs {
			if s.ch == ch {
				h.subs = append(h.subs[:i:i], h.subs[i+1:]...)
				break
			}
		}
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			enc.Encode(m)
			w.(http.Flusher).Flush()
		}
	}
}

// subscriber is one open events stream.
type subscriber struct {
	args filters.Args
	ch   chan events.Message
}

// emit sends a container event to the matching streams, with h.mu held.
func (h *Host) emit(action events.Action, c *ctr) {
	m := events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: c.ID, Attributes: map[string]string{"name": c.Name, "image": c.Image}},
		Scope: "local", TimeNano: h.now().UnixNano()}
	m.Time = m.TimeNano / 1e9
	for _, s := range h.subs {
		if s.args.ExactMatch("type", string(m.Type)) && (s.args.ExactMatch("container", c.ID) || s.args.ExactMatch("container", c.Name)) &&
			s.args.FuzzyMatch("event", string(action)) {
			select {
			case s.ch <- m:
			default: // a slow reader loses events, as on a real engine
			}
		}
	}
}

// record notes a state change that succeeded, with h.mu held, and tells
// the events streams.
func (h *Host) record(args []string, container string) {
	if c := h.lookupName(container); c != nil {
		switch args[0] {
		case "start":
			h.emit(events.ActionStart, c)
			if c.State == "exited" || c.State == "restarting" {
				h.emit(events.ActionDie, c)
			}
		case "stop", "kill":
			h.emit(events.ActionDie, c)
		}
	}
	m := Mutation{Host: h.Name, Args: args, Container: container}
	if h.journal != nil {
		m.Seq = h.journal.add(m)
	} else {
		m.Seq = len(h.mutations) + 1
	}
	h.mutations = append(h.mutations, m)
}

func (h *Host) lookupName(name string) *ctr {
	for _, c := range h.containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// findNetwork finds a network by name, ID or unique ID prefix.
func (h *Host) findNetwork(ref string) *Network {
	if n, ok := h.networks[ref]; ok {
		return n
	}
	var found *Network
	for _, n := range h.networks {
		if strings.HasPrefix(n.ID, ref) {
			if found != nil {
				return nil
			}
			found = n
		}
	}
	return found
}
