package command

import (
	"context"
	"sort"
	"sync"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/reconcile"
)

// imagePlatforms gathers, for the planner, the platforms each image of
// services has: the copies on the ready hosts and, with local (stack deploy
// --push), the local engine's. An image found nowhere is left out, so its
// platforms are unknown and do not limit placement: hosts that pull it
// get the variant of their own platform from the registry.
func (e *runEnv) imagePlatforms(ctx context.Context, w *reconcile.World, services []*cluster.Service, local bool) map[string][]cluster.Platform {
	refs := map[string]bool{}
	for _, s := range services {
		refs[s.Container.Image] = true
	}
	var mu sync.Mutex
	found := map[string]map[cluster.Platform]bool{}
	add := func(ref string, p cluster.Platform) {
		if !p.Known() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if found[ref] == nil {
			found[ref] = map[cluster.Platform]bool{}
		}
		found[ref][p] = true
	}
	if local {
		for ref := range refs {
			if f, err := localImage(ctx, ref); err == nil {
				add(ref, f.Platform)
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, e.parallel)
	for host, eng := range w.Engines {
		obs := w.Obs[host]
		if obs == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var present []string
			for ref := range refs {
				if _, ok := obs.HasImage(ref); ok {
					present = append(present, ref)
				}
			}
			sort.Strings(present)
			facts, err := eng.ImagesFacts(ctx, present)
			if err != nil {
				// Unknown is not wrong: placement goes on without it.
				e.log.Debug().Str("host", host).Err(err).Msg("cannot read the images' platforms")
				return
			}
			for ref, f := range facts {
				add(ref, f.Platform)
			}
		}()
	}
	wg.Wait()
	out := make(map[string][]cluster.Platform, len(found))
	for ref, set := range found {
		for p := range set {
			out[ref] = append(out[ref], p)
		}
		sort.Slice(out[ref], func(i, j int) bool { return out[ref][i].String() < out[ref][j].String() })
	}
	return out
}
