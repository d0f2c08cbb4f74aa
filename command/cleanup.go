package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/drover-sh/drover/reconcile"
)

func envList() []string { return os.Environ() }

// removeStackResources removes the stacks' networks (and volumes) on every
// reachable host.
func removeStackResources(ctx context.Context, e *runEnv, w *reconcile.World, stacks []string, volumes bool) (bool, error) {
	var mu sync.Mutex
	var errs []error
	removed := 0
	var wg sync.WaitGroup
	for host, eng := range w.Engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, st := range stacks {
				gone, err := eng.RemoveStackResources(ctx, st, volumes)
				mu.Lock()
				removed += len(gone)
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
	return removed > 0, errors.Join(errs...)
}
