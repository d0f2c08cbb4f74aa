package engine

import (
	"context"
	"io"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Every operation goes through the host's Engine API client (api*.go);
// what changes the host is told to Audit, named as the docker command
// that would have made it.

// Create creates a container, connects its networks and starts it, and
// returns its ID. Environment values travel in the request body only.
func (e *Engine) Create(ctx context.Context, c Container) (string, error) {
	if c.Cluster == "" {
		c.Cluster = e.Cluster
	}
	id, err := e.API.create(ctx, c)
	e.audit([]string{"create+start", c.Name}, err)
	return id, err
}

// Remove stops a container gracefully (within grace; 0 = its own stop
// timeout) and removes it. A container that is already gone is not an
// error.
func (e *Engine) Remove(ctx context.Context, id string, grace time.Duration) error {
	err := e.API.remove(ctx, id, grace)
	e.audit([]string{"rm", id}, err)
	return err
}

// CreateNetwork creates a bridge network labelled for the cluster and
// stack; one that exists is not an error.
func (e *Engine) CreateNetwork(ctx context.Context, n cluster.Network, stack string) error {
	err := e.API.createNetwork(ctx, n, e.Cluster, stack)
	e.audit([]string{"network", "create", n.Name}, err)
	return err
}

// RemoveNetwork removes a network; a missing one is not an error.
func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	err := e.API.removeNetwork(ctx, name)
	e.audit([]string{"network", "rm", name}, err)
	return err
}

// CreateVolume creates a named volume labelled for the cluster and stack.
func (e *Engine) CreateVolume(ctx context.Context, v cluster.Volume, stack string) error {
	err := e.API.createVolume(ctx, v, e.Cluster, stack)
	e.audit([]string{"volume", "create", v.Name}, err)
	return err
}

// RemoveVolume removes a volume; a missing one is not an error.
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	err := e.API.removeVolume(ctx, name)
	e.audit([]string{"volume", "rm", name}, err)
	return err
}

// Pull pulls an image.
func (e *Engine) Pull(ctx context.Context, ref string) error {
	err := e.API.pull(ctx, ref)
	e.audit([]string{"pull", ref}, err)
	return err
}

// Inspect reads the current state of some containers.
func (e *Engine) Inspect(ctx context.Context, ids ...string) ([]cluster.Replica, error) {
	return e.API.inspect(ctx, ids, false)
}

// LogOptions are `docker logs` options.
type LogOptions struct {
	Follow     bool
	Tail       string
	Since      string
	Timestamps bool
}

// Logs streams a container's logs into stdout and stderr.
func (e *Engine) Logs(ctx context.Context, id string, o LogOptions, stdout, stderr io.Writer) error {
	return e.API.logs(ctx, id, o, stdout, stderr)
}

// Load streams a gzip-compressed `docker save` archive into the engine.
func (e *Engine) Load(ctx context.Context, gz io.Reader) (string, error) {
	out, err := e.API.load(ctx, gz)
	e.audit([]string{"load"}, err)
	return out, err
}

// ImageID returns the ID of an image on the host, "" when absent.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	return e.API.imageID(ctx, ref)
}

// RemoveStackResources removes a stack's networks and, if volumes is set,
// its named volumes, and returns what it removed.
func (e *Engine) RemoveStackResources(ctx context.Context, stack string, volumes bool) ([]string, error) {
	out, err := e.API.removeStackResources(ctx, e.Cluster, stack, volumes)
	e.audit([]string{"network", "rm", "(stack " + stack + ")"}, err)
	return out, err
}

// Info asks the engine for its facts.
func (e *Engine) Info(ctx context.Context) (Facts, error) {
	return e.API.info(ctx)
}

// Observe reads the host's drover containers, networks, volumes and
// images.
func (e *Engine) Observe(ctx context.Context) (*Observation, error) {
	return e.API.observe(ctx, e.Cluster)
}
