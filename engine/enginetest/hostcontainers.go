package enginetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/drover-sh/drover/engine"
)

// Containers of the fake engine: list, create, start, stop and kill,
// remove, inspect and logs, on the host's simulated state.

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

func (h *Host) lookupName(name string) *ctr {
	for _, c := range h.containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}
