package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/drover-sh/drover/reconcile"
)

func envList() []string { return os.Environ() }

// removeStackResources removes the stacks' networks (and volumes) on every
// reachable host.
func removeStackResources(ctx context.Context, e *runEnv, w *reconcile.World, stacks []string, volumes bool) (string, error) {
	var mu sync.Mutex
	var errs []error
	var networks, vols int
	var wg sync.WaitGroup
	for host, eng := range w.Engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range stacks {
				gone, err := eng.RemoveStackResources(ctx, st, volumes)
				mu.Lock()
				for _, g := range gone {
					if strings.HasPrefix(g, "volume ") {
						vols++
					} else {
						networks++
					}
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: removing networks of %s: %w", host, st, err))
				}
				mu.Unlock()
				for _, g := range gone {
					e.log.Info().Str("host", host).Str("stack", st).Msg("removed " + g)
				}
			}
		}()
	}
	wg.Wait()
	var parts []string
	if networks > 0 {
		parts = append(parts, plural(networks, "network", "networks"))
	}
	if vols > 0 {
		parts = append(parts, plural(vols, "volume", "volumes"))
	}
	done := ""
	if len(parts) > 0 {
		done = strings.Join(parts, ", ") + " removed"
	}
	return done, errors.Join(errs...)
}
