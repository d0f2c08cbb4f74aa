package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/reconcile"
)

func envList() []string { return os.Environ() }

// removeStackResources removes the stacks' networks (and volumes) on every
// reachable host.
func removeStackResources(ctx context.Context, e *runEnv, w *reconcile.World, stacks []string, volumes bool) (string, error) {
	var mu sync.Mutex
	var networks, vols int
	hosts := make([]string, 0, len(w.Engines))
	for host := range w.Engines {
		hosts = append(hosts, host)
	}
	sort.Strings(hosts)
	errs := fanout.Each(ctx, e.parallel, hosts, func(ctx context.Context, _ int, host string) error {
		var errs []error
		for _, st := range stacks {
			gone, err := w.Engines[host].RemoveStackResources(ctx, st, volumes)
			mu.Lock()
			for _, g := range gone {
				if strings.HasPrefix(g, "volume ") {
					vols++
				} else {
					networks++
				}
			}
			mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: removing networks of %s: %w", host, st, err))
			}
			for _, g := range gone {
				e.log.Info().Str("host", host).Str("stack", st).Msg("removed " + g)
			}
		}
		return errors.Join(errs...)
	})
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
