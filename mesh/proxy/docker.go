package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// DockerHealth asks the local engine over its unix socket for one
// container's state: GET /containers/{id}/json only.
type DockerHealth struct {
	client *http.Client
}

var _ HealthSource = (*DockerHealth)(nil)

// NewDockerHealth talks to the engine socket at path.
func NewDockerHealth(path string) *DockerHealth {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns: 2,
	}
	return &DockerHealth{client: &http.Client{Transport: tr}}
}

// NotReadyError is docker's own answer that a container is not fit for
// traffic (not running, unhealthy, gone); any other error (the socket did
// not answer in time) leaves a gate as it was.
type NotReadyError struct{ Reason string }

func (e *NotReadyError) Error() string { return e.Reason }

// ContainerReady: running and, with a healthcheck, healthy.
func (d *DockerHealth) ContainerReady(ctx context.Context, id string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/containers/"+url.PathEscape(id)+"/json", nil)
	if err != nil {
		return false, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("docker inspect %s: %w", short(id), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, &NotReadyError{Reason: fmt.Sprintf("container %s: not found", short(id))}
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("docker inspect %s: %s", short(id), resp.Status)
	}
	var v struct {
		State struct {
			Running bool
			Health  *struct{ Status string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return false, fmt.Errorf("docker inspect %s: %w", short(id), err)
	}
	if !v.State.Running {
		return false, &NotReadyError{Reason: fmt.Sprintf("container %s: not running", short(id))}
	}
	if v.State.Health != nil && v.State.Health.Status != "healthy" {
		return false, &NotReadyError{Reason: fmt.Sprintf("container %s: %s", short(id), v.State.Health.Status)}
	}
	return true, nil
}
