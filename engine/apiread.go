package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"golang.org/x/sync/errgroup"

	"github.com/drover-sh/drover/cluster"
)

// observe reads what a plan needs. The calls run one after the other: on
// one kept-alive stream each costs a round trip inside the host, less than
// starting another `docker system dial-stdio`. Containers are inspected a
// few at a time when there are many.
func (a *API) observe(ctx context.Context, clusterName string) (*Observation, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, a.classify(err)
	}
	facts, err := factsFromInfo(info)
	if err != nil {
		return nil, err
	}
	obs := &Observation{Facts: facts, Images: map[string]string{}}
	// Every container, not only the cluster's (docker's filters cannot say
	// "this label or that name"): the routing mesh's proxy comes with the
	// same round trip.
	list, err := c.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, a.classify(err)
	}
	var ids []string
	for _, s := range list {
		switch {
		case s.Labels[cluster.LabelCluster] == clusterName:
			ids = append(ids, s.ID)
		case slices.Contains(s.Names, "/"+ProxyName):
			obs.Proxy = &ProxyContainer{ID: s.ID, Image: s.Image, ImageID: s.ImageID, State: string(s.State), Labels: s.Labels}
		}
	}
	// A container removed between list and inspect is simply not there.
	if obs.Replicas, err = a.inspect(ctx, ids, true); err != nil {
		return nil, err
	}
	nets, err := c.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, a.classify(err)
	}
	for _, n := range nets {
		obs.Networks = append(obs.Networks, n.Name)
	}
	sort.Strings(obs.Networks)
	vols, err := c.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, a.classify(err)
	}
	for _, v := range vols.Volumes {
		obs.Volumes = append(obs.Volumes, v.Name)
	}
	sort.Strings(obs.Volumes)
	imgs, err := c.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, a.classify(err)
	}
	for _, im := range imgs {
		for _, ref := range im.RepoTags {
			if !strings.Contains(ref, "<none>") {
				obs.Images[ref] = im.ID
			}
		}
	}
	return obs, nil
}

// inspectParallel is how many inspects of one host run at once.
const inspectParallel = 2

// inspect reads containers by ID. With skipMissing, a container that is
// gone is left out instead of failing the call.
func (a *API) inspect(ctx context.Context, ids []string, skipMissing bool) ([]cluster.Replica, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return nil, err
	}
	got := make([]*container.InspectResponse, len(ids))
	var g errgroup.Group
	// Few containers: one stream, in order. Many: a few streams.
	g.SetLimit(1 + min(inspectParallel-1, len(ids)/16))
	for i, id := range ids {
		g.Go(func() error {
			r, err := c.ContainerInspect(ctx, id)
			if err != nil {
				if skipMissing && IsNotFound(err) {
					return nil
				}
				return a.classify(err)
			}
			got[i] = &r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]cluster.Replica, 0, len(ids))
	for _, c := range got {
		if c != nil {
			out = append(out, replicaOf(a.host, *c))
		}
	}
	sortReplicas(out)
	return out, nil
}

func (a *API) info(ctx context.Context) (Facts, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return Facts{}, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return Facts{}, a.classify(err)
	}
	return factsFromInfo(info)
}

func (a *API) imageID(ctx context.Context, ref string) (string, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return "", err
	}
	im, err := c.ImageInspect(ctx, ref)
	if err != nil {
		if IsNotFound(err) {
			return "", nil
		}
		return "", a.classify(err)
	}
	return im.ID, nil
}

// imageFacts inspects one image; ok is false when the host lacks it.
func (a *API) imageFacts(ctx context.Context, ref string) (ImageFacts, bool, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return ImageFacts{}, false, err
	}
	im, err := c.ImageInspect(ctx, ref)
	if err != nil {
		if IsNotFound(err) {
			return ImageFacts{}, false, nil
		}
		return ImageFacts{}, false, a.classify(err)
	}
	return ImageFacts{ID: im.ID, Size: im.Size,
		Platform: cluster.Platform{OS: im.Os, Arch: im.Architecture, Variant: im.Variant}.Normalize()}, true, nil
}

// parseTime reads the engine's RFC 3339 timestamps; docker writes
// "0001-01-01T00:00:00Z" for never, which is the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func factsFromInfo(i system.Info) (Facts, error) {
	if i.ServerVersion == "" {
		// An engine that answers /info at all has a version; without one
		// the daemon behind the stream is not usable.
		msg := strings.TrimSpace(strings.Join(i.Warnings, "; "))
		if msg == "" {
			msg = "the engine reported no version"
		}
		err := fmt.Errorf("%w: %s", ErrDockerDown, firstLine(msg))
		if r := reasonFor(msg, 0); r != "" {
			return Facts{}, &HostError{Reason: r, Err: err}
		}
		return Facts{}, err
	}
	return Facts{
		EngineVersion: i.ServerVersion,
		OS:            i.OSType,
		Arch:          GoArch(i.Architecture),
		Variant:       GoVariant(i.Architecture),
		CPUs:          i.NCPU,
		MemoryBytes:   i.MemTotal,
		Hostname:      i.Name,
		ID:            i.ID,
	}, nil
}
