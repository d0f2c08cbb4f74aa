package command

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/imagexfer"
	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/reconcile"
)

// imagePlatforms gathers, for the planner, the platforms of the services'
// images: the copies on the ready hosts (per host, and their union for the
// hosts lacking one) and, with local (stack deploy --push), the local
// engine's image, which then replaces the copies. An image found nowhere is
// left out, so its platforms are unknown and do not limit placement: hosts
// that pull it get the variant of their own platform from the registry.
//
// With registry (runs that may change things), an image found neither on a
// host nor locally is looked up in its registry, whose manifest list is
// what the hosts will pull from; an unreachable registry leaves it unknown.
func (e *runEnv) imagePlatforms(ctx context.Context, w *reconcile.World, services []*cluster.Service, local, registry bool) (map[string][]cluster.Platform, map[string]map[string]cluster.Platform) {
	refs := map[string]bool{}
	for _, s := range services {
		refs[s.Container.Image] = true
	}
	pushed := map[string]cluster.Platform{}
	if local {
		for ref := range refs {
			if f, err := (imagexfer.LocalDocker{}).Image(ctx, ref); err == nil && f.Platform.Known() {
				pushed[ref] = f.Platform
			}
		}
	}
	var mu sync.Mutex
	copies := map[string]map[string]cluster.Platform{}
	type ask struct {
		host    string
		present []string
	}
	var asks []ask
	for _, host := range sortedKeys(w.Engines) {
		obs := w.Obs[host]
		if obs == nil {
			continue
		}
		var present []string
		for ref := range refs {
			if _, ok := obs.HasImage(ref); ok {
				if _, replaced := pushed[ref]; !replaced {
					present = append(present, ref)
				}
			}
		}
		if len(present) == 0 {
			continue
		}
		sort.Strings(present)
		asks = append(asks, ask{host, present})
	}
	fanout.Each(ctx, e.parallel, asks, func(ctx context.Context, _ int, a ask) error {
		facts, err := w.Engines[a.host].ImagesFacts(ctx, a.present)
		if err != nil {
			// Unknown is not wrong: placement goes on without it.
			e.log.Debug().Str("host", a.host).Err(err).Msg("cannot read the images' platforms")
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		for ref, f := range facts {
			if f.Platform.Known() {
				if copies[a.host] == nil {
					copies[a.host] = map[string]cluster.Platform{}
				}
				copies[a.host][ref] = f.Platform
			}
		}
		return nil
	})
	found := map[string]map[cluster.Platform]bool{}
	add := func(ref string, p cluster.Platform) {
		if found[ref] == nil {
			found[ref] = map[cluster.Platform]bool{}
		}
		found[ref][p] = true
	}
	for ref, p := range pushed {
		add(ref, p)
	}
	for _, images := range copies {
		for ref, p := range images {
			add(ref, p)
		}
	}
	if registry {
		var missing []string
		for ref := range refs {
			if found[ref] == nil {
				missing = append(missing, ref)
			}
		}
		for ref, ps := range e.registryPlatforms(ctx, missing) {
			for _, p := range ps {
				add(ref, p)
			}
		}
	}
	out := make(map[string][]cluster.Platform, len(found))
	for ref, set := range found {
		for p := range set {
			out[ref] = append(out[ref], p)
		}
		sort.Slice(out[ref], func(i, j int) bool { return out[ref][i].String() < out[ref][j].String() })
	}
	return out, copies
}

// registryTimeout bounds the look at the registries: a plan must not wait
// long for what only refines placement.
const registryTimeout = 3 * time.Second

// registryPlatforms asks the images' registries, in parallel, for the
// platforms they serve.
func (e *runEnv) registryPlatforms(ctx context.Context, refs []string) map[string][]cluster.Platform {
	ctx, cancel := context.WithTimeout(ctx, registryTimeout)
	defer cancel()
	out := map[string][]cluster.Platform{}
	var mu sync.Mutex
	fanout.Each(ctx, e.parallel, refs, func(ctx context.Context, _ int, ref string) error {
		ps, err := imagexfer.RegistryPlatforms(ctx, ref)
		if err != nil {
			e.log.Debug().Str("image", ref).Err(err).Msg("registry not asked or not answering: the image's platforms are unknown")
			return nil
		}
		mu.Lock()
		out[ref] = ps
		mu.Unlock()
		return nil
	})
	return out
}
