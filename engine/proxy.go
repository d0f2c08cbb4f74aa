package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
)

// ErrNeedsAPI is returned by operations only the Engine API path serves
// (the routing mesh's proxy).
var ErrNeedsAPI = errors.New("needs the Engine API")

// ProxyName is the routing mesh's proxy container on every host
// (mesh.ContainerName); the observation reports it.
const ProxyName = "drover-proxy"

// ProxySpec is the routing mesh's proxy container on one host: host
// networking, its configuration directory and the engine's socket
// mounted, restarted by docker unless stopped.
type ProxySpec struct {
	Name   string
	Image  string // reference
	Labels map[string]string
	// ConfigDir is mounted at the same path inside (read-write: the proxy
	// writes its status next to its configuration).
	ConfigDir string
	// DockerSocket is mounted read-only for the gates' health reads.
	DockerSocket string
	Cmd          []string
}

// ProxyContainer is what drover reads of the proxy container.
type ProxyContainer struct {
	ID      string            `json:"id"`
	Image   string            `json:"image"`    // reference it was created from
	ImageID string            `json:"image_id"` // sha256:…
	State   string            `json:"state"`
	Labels  map[string]string `json:"labels,omitempty"`
	Started string            `json:"started_at,omitempty"`
}

// Running reports whether docker runs it.
func (p ProxyContainer) Running() bool { return p.State == "running" || p.State == "restarting" }

// InspectNamed returns the container named name, ok false when there is
// none.
func (e *Engine) InspectNamed(ctx context.Context, name string) (ProxyContainer, bool, error) {
	if e.API == nil {
		return ProxyContainer{}, false, fmt.Errorf("%s: inspect %s: %w", e.Host, name, ErrNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return ProxyContainer{}, false, err
	}
	r, err := c.ContainerInspect(ctx, name)
	if cerrdefs.IsNotFound(err) {
		return ProxyContainer{}, false, nil
	}
	if err != nil {
		return ProxyContainer{}, false, e.API.classify(err)
	}
	p := ProxyContainer{}
	if b := r.ContainerJSONBase; b != nil {
		p.ID, p.ImageID = b.ID, b.Image
		if b.State != nil {
			p.State, p.Started = string(b.State.Status), b.State.StartedAt
		}
	}
	if r.Config != nil {
		p.Image, p.Labels = r.Config.Image, r.Config.Labels
	}
	return p, true, nil
}

// RunProxy creates and starts the proxy container.
func (e *Engine) RunProxy(ctx context.Context, s ProxySpec) (string, error) {
	if e.API == nil {
		return "", fmt.Errorf("%s: run %s: %w", e.Host, s.Name, ErrNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return "", err
	}
	cfg := &container.Config{Image: s.Image, Labels: s.Labels, Cmd: s.Cmd}
	hc := &container.HostConfig{
		NetworkMode:   "host",
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		// A bind in Binds form: docker creates the directory when missing.
		Binds: []string{s.ConfigDir + ":" + s.ConfigDir},
		Mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: s.DockerSocket, Target: s.DockerSocket, ReadOnly: true},
		},
		// The proxy needs nothing but its sockets and that route.
		CapDrop: []string{"ALL"},
		// NET_ADMIN for the one local route of the services' virtual
		// addresses (ProxySpec.Cmd's --local-range).
		CapAdd:         []string{"NET_BIND_SERVICE", "NET_ADMIN"},
		ReadonlyRootfs: true,
		SecurityOpt:    []string{"no-new-privileges"},
		LogConfig:      container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
	}
	resp, err := c.ContainerCreate(ctx, cfg, hc, nil, nil, s.Name)
	e.audit([]string{"create", s.Name}, err)
	if err != nil {
		return "", e.API.classify(err)
	}
	err = c.ContainerStart(ctx, resp.ID, container.StartOptions{})
	e.audit([]string{"start", s.Name}, err)
	if err != nil {
		return "", e.API.classify(err)
	}
	return resp.ID, nil
}

// StartContainer starts a stopped container.
func (e *Engine) StartContainer(ctx context.Context, id string) error {
	if e.API == nil {
		return fmt.Errorf("%s: start %s: %w", e.Host, id, ErrNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return err
	}
	err = c.ContainerStart(ctx, id, container.StartOptions{})
	e.audit([]string{"start", id}, err)
	if err != nil {
		return e.API.classify(err)
	}
	return nil
}

// MemoryUsage is a container's memory use in bytes, from one stats sample.
func (e *Engine) MemoryUsage(ctx context.Context, id string) (uint64, error) {
	if e.API == nil {
		return 0, fmt.Errorf("%s: stats %s: %w", e.Host, id, ErrNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return 0, err
	}
	st, err := c.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return 0, e.API.classify(err)
	}
	defer st.Body.Close()
	var v container.StatsResponse
	if err := json.NewDecoder(st.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("%s: stats %s: %w", e.Host, id, err)
	}
	return v.MemoryStats.Usage, nil
}

// ReadContainerFile reads one regular file from a container (a bind mount
// included) through the Engine API: no file access but docker's is needed
// on the host. A missing file is an error matching fs.ErrNotExist.
func (e *Engine) ReadContainerFile(ctx context.Context, name, path string) ([]byte, error) {
	if e.API == nil {
		return nil, fmt.Errorf("%s: read %s: %w", e.Host, path, ErrNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return nil, err
	}
	rc, _, err := c.CopyFromContainer(ctx, name, path)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("%s: %s in %s: %w", e.Host, path, name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, e.API.classify(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: read %s in %s: %w", e.Host, path, name, err)
		}
		if h.Typeflag == tar.TypeReg {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}

// WriteContainerFile writes one file into a container's directory (a bind
// mount: the host's file) through the Engine API, owned by root with mode.
func (e *Engine) WriteContainerFile(ctx context.Context, name, path string, data []byte, mode os.FileMode) error {
	if e.API == nil {
		return fmt.Errorf("%s: write %s: %w", e.Host, path, ErrNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: filepath.Base(path), Mode: int64(mode.Perm()), Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
		return err
	}
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return err
	}
	err = c.CopyToContainer(ctx, name, filepath.Dir(path), &buf, container.CopyToContainerOptions{})
	e.audit([]string{"cp", "-", name + ":" + path}, err)
	if err != nil {
		return e.API.classify(err)
	}
	return nil
}
