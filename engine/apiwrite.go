package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/drover-sh/drover/cluster"
)

// create creates the container, connects every network before it starts,
// and starts it. Environment values travel in the request body only.
func (a *API) create(ctx context.Context, ct Container) (string, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return "", err
	}
	req, err := createRequestFor(ct, c.ClientVersion())
	if err != nil {
		return "", fmt.Errorf("%s: %w", ct.Name, err)
	}
	resp, err := c.ContainerCreate(ctx, req.Config, req.Host, req.Networking, nil, ct.Name)
	if err != nil {
		return "", a.classify(err)
	}
	// A container created but not started is left for the next run's plan
	// to see (and replace), as before: the ID is only returned on success.
	for _, n := range req.Connect {
		if err := c.NetworkConnect(ctx, n.Name, resp.ID, &network.EndpointSettings{Aliases: n.Aliases}); err != nil {
			return "", a.classify(fmt.Errorf("%s: connect network %s: %w", ct.Name, n.Name, err))
		}
	}
	if err := c.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return "", a.classify(err)
	}
	return resp.ID, nil
}

// remove stops the container within grace (0: its own stop timeout) and
// removes it; one that is gone is not an error.
func (a *API) remove(ctx context.Context, id string, grace time.Duration) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	var opts container.StopOptions
	if grace > 0 {
		secs := int((grace + time.Second - 1) / time.Second)
		opts.Timeout = &secs
	}
	// A stop that fails (already stopped, dead) still ends in a forced
	// removal, as `docker stop; docker rm --force` did.
	if err := c.ContainerStop(ctx, id, opts); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	err = c.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if err != nil && !IsNotFound(err) {
		return a.classify(err)
	}
	return nil
}

func (a *API) createNetwork(ctx context.Context, n cluster.Network, clusterName, stack string) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	labels[cluster.LabelCluster] = clusterName
	labels[cluster.LabelStack] = stack
	_, err = c.NetworkCreate(ctx, n.Name, network.CreateOptions{Driver: "bridge", Internal: n.Internal, Labels: labels})
	if err != nil && !IsConflict(err) {
		return a.classify(err)
	}
	return nil
}

func (a *API) removeNetwork(ctx context.Context, name string) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	if err := c.NetworkRemove(ctx, name); err != nil && !IsNotFound(err) {
		return a.classify(err)
	}
	return nil
}

func (a *API) createVolume(ctx context.Context, v cluster.Volume, clusterName, stack string) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for k, val := range v.Labels {
		labels[k] = val
	}
	labels[cluster.LabelCluster] = clusterName
	labels[cluster.LabelStack] = stack
	_, err = c.VolumeCreate(ctx, volume.CreateOptions{Name: v.Name, Driver: v.Driver, DriverOpts: v.DriverOpts, Labels: labels})
	return a.classify(err)
}

func (a *API) removeVolume(ctx context.Context, name string) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	if err := c.VolumeRemove(ctx, name, false); err != nil && !IsNotFound(err) {
		return a.classify(err)
	}
	return nil
}

// removeStackResources removes the stack's networks (and volumes) of this
// cluster, found by their labels.
func (a *API) removeStackResources(ctx context.Context, clusterName, stack string, volumes bool) ([]string, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return nil, err
	}
	f := filters.NewArgs(filters.Arg("label", cluster.LabelCluster+"="+clusterName), filters.Arg("label", cluster.LabelStack+"="+stack))
	nets, err := c.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, a.classify(err)
	}
	var done []string
	var errs []error
	for _, n := range nets {
		if err := c.NetworkRemove(ctx, n.ID); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("network %s: %w", n.Name, err))
			continue
		}
		done = append(done, "network "+n.Name)
	}
	if volumes {
		vols, err := c.VolumeList(ctx, volume.ListOptions{Filters: f})
		if err != nil {
			return done, a.classify(err)
		}
		for _, v := range vols.Volumes {
			if err := c.VolumeRemove(ctx, v.Name, false); err != nil && !IsNotFound(err) {
				errs = append(errs, fmt.Errorf("volume %s: %w", v.Name, err))
				continue
			}
			done = append(done, "volume "+v.Name)
		}
	}
	if len(errs) > 0 {
		return done, a.classify(errors.Join(errs...))
	}
	return done, nil
}

func (a *API) pull(ctx context.Context, ref string) error {
	c, err := a.ready(ctx)
	if err != nil {
		return err
	}
	body, err := c.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return a.classify(err)
	}
	defer body.Close()
	_, err = readMessages(body)
	return err
}

// load streams an image archive into the engine. The load endpoint takes
// a gzip'd archive as it is: nothing is decompressed on the host.
func (a *API) load(ctx context.Context, archive io.Reader) (string, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return "", err
	}
	resp, err := c.ImageLoad(ctx, archive)
	if err != nil {
		return "", a.classify(err)
	}
	defer resp.Body.Close()
	return readMessages(resp.Body)
}

// readMessages reads the engine's JSON progress stream and returns the
// text it printed, or the error it ended with.
func readMessages(r io.Reader) (string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var m struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Error != "" {
			return strings.Join(out, "\n"), fmt.Errorf("%s", m.Error)
		}
		if s := strings.TrimSpace(m.Stream); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n"), sc.Err()
}

// logs copies a container's logs, stdout and stderr apart. A follow ends
// when ctx does.
func (a *API) logs(ctx context.Context, id string, o LogOptions, stdout, stderr io.Writer) error {
	if _, err := a.ready(ctx); err != nil {
		return err
	}
	if o.Follow {
		// A follow holds its stream (an SSH session) until ctx ends: give
		// the pool's idle streams back first, so that many follows on one
		// host find session slots.
		a.tr.CloseIdleConnections()
	}
	body, err := a.streams.ContainerLogs(ctx, id, container.LogsOptions{
		ShowStdout: true, ShowStderr: true, Follow: o.Follow, Tail: o.Tail, Since: o.Since, Timestamps: o.Timestamps,
	})
	if err != nil {
		return a.classify(err)
	}
	defer body.Close()
	// drover never gives containers a TTY, so the stream is multiplexed.
	_, err = stdcopy.StdCopy(stdout, stderr, body)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
