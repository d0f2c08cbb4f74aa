package command

import (
	"context"
	"errors"
	"fmt"
	"github.com/drover-sh/drover/internal/fanout"
	"sort"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/hostfiles"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

// The run's two hooks for configs and secrets: deliverFiles before the
// plan is applied, pruneFiles after. Both act only on hosts that have
// files to hold: a cluster without configs or secrets pays nothing.

// hostFiles is the run's run.Files: hostfiles over the run's pooled SSH
// connections.
type hostFiles struct{ e *runEnv }

var _ run.Files = hostFiles{}

func (h hostFiles) Deliver(ctx context.Context, w *reconcile.World, p *planner.Plan, d reconcile.Desired, s *state.State) ([]string, error) {
	return h.e.deliverFiles(ctx, w, p, d, s)
}

func (h hostFiles) Prune(ctx context.Context, w *reconcile.World, hosts []string) {
	h.e.pruneFiles(ctx, w, hosts)
}

// deliverFiles writes, on each host, the files that the plan's new
// replicas there mount (and those of the generation a failed rollout
// would roll back to), and checks the files of the replicas that run
// there: a missing or altered one is restored.
func (e *runEnv) deliverFiles(ctx context.Context, w *reconcile.World, p *planner.Plan, d reconcile.Desired, s *state.State) ([]string, error) {
	want := map[string][]cluster.FileMount{}
	for _, a := range p.Actions {
		if a.Kind != planner.Create && a.Kind != planner.Replace {
			continue
		}
		if svc := d.Services[a.Service]; svc != nil {
			want[a.Host] = append(want[a.Host], svc.Container.Files...)
		}
		if prev := d.Previous[a.Service]; prev != nil {
			want[a.Host] = append(want[a.Host], prev.Container.Files...)
		}
	}
	// The running replicas' files are repaired when this state knows their
	// content; a replica of another state's stack (an orphan this run may
	// remove) or of a generation no longer kept is left as it is.
	content := objectContent(s)
	for _, h := range w.Hosts {
		for _, r := range h.Replicas {
			for _, f := range r.Files {
				m, ok := cluster.ParseHostPath(e.inv.Cluster, f)
				if !ok {
					continue
				}
				if _, err := content(m.Kind, m.Name, m.Version); err != nil {
					e.log.Debug().Str("host", h.Node.Name).Str("container", r.Name).Str(string(m.Kind), m.Name).
						Msg("not checking a file whose content this state does not hold")
					continue
				}
				want[h.Node.Name] = append(want[h.Node.Name], m)
			}
		}
	}
	var hosts []string
	for host, files := range want {
		if len(files) > 0 && w.Engines[host] != nil {
			hosts = append(hosts, host)
		}
	}
	sort.Strings(hosts)
	errs := fanout.Each(ctx, e.parallel, hosts, func(ctx context.Context, _ int, host string) error {
		start := time.Now()
		res, err := hostfiles.Sync(ctx, e.pool.Files(host), e.inv.Cluster, want[host], content)
		l := e.log.Debug()
		if res.Repaired > 0 {
			l = e.log.Warn()
		}
		l.Str("host", host).Int("written", res.Written).Int("repaired", res.Repaired).Dur("took", time.Since(start)).
			Msg("config and secret files checked")
		if err != nil {
			return fmt.Errorf("%s: delivering configs and secrets: %w", host, err)
		}
		return nil
	})
	return hosts, errors.Join(errs...)
}

// objectContent looks a version's content up in the state.
func objectContent(s *state.State) hostfiles.Content {
	return func(kind cluster.ObjectKind, name, version string) ([]byte, error) {
		o, err := s.Object(kind, name)
		if err != nil {
			return nil, err
		}
		v, ok := o.Version(version)
		if !ok {
			return nil, fmt.Errorf("version %s is no longer in drover's store", version)
		}
		return v.Data, nil
	}
}

// pruneFiles removes, from the hosts that held files, those that no
// container there mounts any more: it looks at the containers again, as
// the rollout left them. A failure is only reported: the next run prunes
// again.
func (e *runEnv) pruneFiles(ctx context.Context, w *reconcile.World, hosts []string) {
	fanout.Each(ctx, e.parallel, hosts, func(ctx context.Context, _ int, host string) error {
		eng := w.Engines[host]
		if eng == nil {
			return nil
		}
		start := time.Now()
		obs, err := eng.Observe(ctx)
		if err != nil {
			e.log.Warn().Str("host", host).Err(err).Msg("config and secret files not pruned: the next run will")
			return nil
		}
		inUse := map[string]bool{}
		for _, r := range obs.Replicas {
			for _, f := range r.Files {
				inUse[f] = true
			}
		}
		res, err := hostfiles.Prune(ctx, e.pool.Files(host), e.inv.Cluster, inUse)
		if err != nil {
			e.log.Warn().Str("host", host).Err(err).Msg("config and secret files not all pruned: the next run will try again")
		}
		if res.Removed > 0 {
			e.log.Info().Str("host", host).Int("removed", res.Removed).Msg("removed config and secret files no replica mounts")
		}
		e.log.Debug().Str("host", host).Int("held", res.Held).Dur("took", time.Since(start)).Msg("config and secret files pruned")
		return nil
	})
}
