package command

import (
	"context"
	"sort"
	"sync"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/reconcile"
)

// imagePlatforms gathers, for the planner, the platforms of the services'
// images: the copies on the ready hosts (per host, and their union for the
// hosts lacking one) and, with local (stack deploy --push), the local
// engine's image, which then replaces the copies. An image found nowhere is
// left out, so its platforms are unknown and do not limit placement: hosts
// that pull it get the variant of their own platform from the registry.
func (e *runEnv) imagePlatforms(ctx context.Context, w *reconcile.World, services []*cluster.Service, local bool) (map[string][]cluster.Platform, map[string]map[string]cluster.Platform) {
	refs := map[string]bool{}
	for _, s := range services {
		refs[s.Container.Image] = true
	}
	pushed := map[string]cluster.Platform{}
	if local {
		for ref := range refs {
			if f, err := localImage(ctx, ref); err == nil && f.Platform.Known() {
				pushed[ref] = f.Platform
			}
		}
	}
	var mu sync.Mutex
	copies := map[string]map[string]cluster.Platform{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.parallel)
	for host, eng := range w.Engines {
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			facts, err := eng.ImagesFacts(ctx, present)
			if err != nil {
				// Unknown is not wrong: placement goes on without it.
				e.log.Debug().Str("host", host).Err(err).Msg("cannot read the images' platforms")
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for ref, f := range facts {
				if f.Platform.Known() {
					if copies[host] == nil {
						copies[host] = map[string]cluster.Platform{}
					}
					copies[host][ref] = f.Platform
				}
			}
		}()
	}
	wg.Wait()
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
	out := make(map[string][]cluster.Platform, len(found))
	for ref, set := range found {
		for p := range set {
			out[ref] = append(out[ref], p)
		}
		sort.Slice(out[ref], func(i, j int) bool { return out[ref][i].String() < out[ref][j].String() })
	}
	return out, copies
}
