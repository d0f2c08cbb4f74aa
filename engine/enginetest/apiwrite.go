package enginetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"
)

// The write endpoints of the fake: containers are kept as the inspect
// documents the read side serves, so what drover creates it reads back in
// the engine's own shape.

// Created returns the bodies of every container create request.
func (a *API) Created() []container.CreateRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]container.CreateRequest(nil), a.created...)
}

// SetLogs sets what a container has printed on stdout and stderr.
func (a *API) SetLogs(name, stdout, stderr string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.logs == nil {
		a.logs = map[string][2]string{}
	}
	a.logs[name] = [2]string{stdout, stderr}
}

// serveWrite answers the non-GET endpoints; ok is false for one not faked.
func (a *API) serveWrite(w http.ResponseWriter, r *http.Request, path string) bool {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodPost && path == "/containers/create":
		a.createContainer(w, r)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "containers" && parts[2] == "start":
		a.setState(w, parts[1], "running")
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "containers" && (parts[2] == "stop" || parts[2] == "kill"):
		a.setState(w, parts[1], "exited")
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "containers":
		a.removeContainer(w, parts[1])
	case r.Method == http.MethodPost && path == "/networks/create":
		a.createNetwork(w, r)
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "networks" && parts[2] == "connect":
		a.connectNetwork(w, r, parts[1])
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "networks":
		a.removeNetwork(w, parts[1])
	case r.Method == http.MethodPost && path == "/volumes/create":
		a.createVolume(w, r)
	case r.Method == http.MethodDelete && len(parts) == 2 && parts[0] == "volumes":
		a.removeVolume(w, parts[1])
	default:
		return false
	}
	return true
}

// find returns the index of the container named or identified by ref.
func (a *API) find(ref string) (int, container.InspectResponse) {
	for i, s := range a.containers {
		if s.is(ref) {
			var c container.InspectResponse
			json.Unmarshal(s.raw, &c)
			if c.ContainerJSONBase != nil {
				return i, c
			}
		}
	}
	return -1, container.InspectResponse{}
}

func (a *API) createContainer(w http.ResponseWriter, r *http.Request) {
	var req container.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Config == nil {
		apiError(w, http.StatusBadRequest, fmt.Sprintf("bad create request: %v", err))
		return
	}
	name := r.URL.Query().Get("name")
	if i, _ := a.find(name); i >= 0 {
		apiError(w, http.StatusConflict, fmt.Sprintf("Conflict. The container name %q is already in use", "/"+name))
		return
	}
	a.created = append(a.created, req)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s %d", name, len(a.created))))
	id := hex.EncodeToString(sum[:])
	c := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: id, Name: "/" + name, Created: a.now().Format(time.RFC3339Nano), Image: a.imageID(req.Config.Image),
			State:      &container.State{Status: "created", StartedAt: "0001-01-01T00:00:00Z", FinishedAt: "0001-01-01T00:00:00Z"},
			HostConfig: req.HostConfig,
		},
		Config:          req.Config,
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}},
	}
	if req.NetworkingConfig != nil {
		for n, ep := range req.NetworkingConfig.EndpointsConfig {
			c.NetworkSettings.Networks[n] = ep
		}
	}
	a.put(-1, c)
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, container.CreateResponse{ID: id})
}

func (a *API) imageID(ref string) string {
	for _, im := range a.images {
		if contains(im.RepoTags, ref) || contains(im.RepoTags, ref+":latest") {
			return im.ID
		}
	}
	return ""
}

func (a *API) now() time.Time {
	if a.Clock != nil {
		return a.Clock()
	}
	return time.Now().UTC()
}

// put stores c at index i, or appends it when i < 0.
func (a *API) put(i int, c container.InspectResponse) {
	raw, _ := json.Marshal(c)
	if i < 0 {
		a.containers = append(a.containers, newStored(raw))
		return
	}
	a.containers[i] = newStored(raw)
}

func (a *API) setState(w http.ResponseWriter, ref, status string) {
	i, c := a.find(ref)
	if i < 0 {
		apiError(w, http.StatusNotFound, "No such container: "+ref)
		return
	}
	now := a.now().Format(time.RFC3339Nano)
	c.State.Status = container.ContainerState(status)
	c.State.Running = status == "running"
	if status == "running" {
		c.State.StartedAt = now
	} else {
		c.State.FinishedAt = now
	}
	a.put(i, c)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) removeContainer(w http.ResponseWriter, ref string) {
	i, _ := a.find(ref)
	if i < 0 {
		apiError(w, http.StatusNotFound, "No such container: "+ref)
		return
	}
	a.containers = append(a.containers[:i], a.containers[i+1:]...)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) network(ref string) int {
	for i, n := range a.networks {
		if n.Name == ref || n.ID == ref {
			return i
		}
	}
	return -1
}

func (a *API) createNetwork(w http.ResponseWriter, r *http.Request) {
	var req network.CreateRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if a.network(req.Name) >= 0 {
		apiError(w, http.StatusConflict, "network with name "+req.Name+" already exists")
		return
	}
	id := fmt.Sprintf("net%04d", len(a.networks)+1)
	a.networks = append(a.networks, network.Summary{ID: id, Name: req.Name, Driver: req.Driver, Internal: req.Internal, Labels: req.Labels})
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, network.CreateResponse{ID: id})
}

func (a *API) connectNetwork(w http.ResponseWriter, r *http.Request, ref string) {
	var req network.ConnectOptions
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	n := a.network(ref)
	if n < 0 {
		apiError(w, http.StatusNotFound, "network "+ref+" not found")
		return
	}
	i, c := a.find(req.Container)
	if i < 0 {
		apiError(w, http.StatusNotFound, "No such container: "+req.Container)
		return
	}
	ep := req.EndpointConfig
	if ep == nil {
		ep = &network.EndpointSettings{}
	}
	c.NetworkSettings.Networks[a.networks[n].Name] = ep
	a.put(i, c)
	w.WriteHeader(http.StatusOK)
}

func (a *API) removeNetwork(w http.ResponseWriter, ref string) {
	n := a.network(ref)
	if n < 0 {
		apiError(w, http.StatusNotFound, "network "+ref+" not found")
		return
	}
	a.networks = append(a.networks[:n], a.networks[n+1:]...)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) createVolume(w http.ResponseWriter, r *http.Request) {
	var req volume.CreateOptions
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	v := &volume.Volume{Name: req.Name, Driver: req.Driver, Labels: req.Labels, Options: req.DriverOpts}
	if v.Driver == "" {
		v.Driver = "local"
	}
	for _, old := range a.volumes {
		if old.Name == req.Name {
			writeJSON(w, old) // as docker: creating an existing volume returns it
			return
		}
	}
	a.volumes = append(a.volumes, v)
	w.WriteHeader(http.StatusCreated)
	writeJSON(w, v)
}

func (a *API) removeVolume(w http.ResponseWriter, name string) {
	for i, v := range a.volumes {
		if v.Name == name {
			a.volumes = append(a.volumes[:i], a.volumes[i+1:]...)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	apiError(w, http.StatusNotFound, "get "+name+": no such volume")
}

// containerLogs writes the logs multiplexed, as the engine does for
// containers without a TTY.
func (a *API) containerLogs(w http.ResponseWriter, ref string) {
	i, c := a.find(ref)
	if i < 0 {
		apiError(w, http.StatusNotFound, "No such container: "+ref)
		return
	}
	l := a.logs[strings.TrimPrefix(c.Name, "/")]
	w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
	w.WriteHeader(http.StatusOK)
	io.WriteString(stdcopy.NewStdWriter(w, stdcopy.Stdout), l[0])
	io.WriteString(stdcopy.NewStdWriter(w, stdcopy.Stderr), l[1])
}
