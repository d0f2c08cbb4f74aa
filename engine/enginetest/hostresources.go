package enginetest

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

// Networks and volumes of the fake engine.

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
