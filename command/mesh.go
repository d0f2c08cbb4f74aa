package command

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/mesh"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
)

// meshRun is one run's routing mesh: the hooks the apply calls around
// replicas that stop and start, and the final sync of every proxy.
type meshRun struct {
	e        *runEnv
	cl       *reconcile.Cluster // quiet copy: observing again reports nothing twice
	services map[string]*cluster.Service

	binOnce sync.Once
	bins    *mesh.Binaries
	binErr  error

	mu      sync.Mutex
	exclude map[string]bool
}

var _ run.MeshRun = (*meshRun)(nil)

func (e *runEnv) newMesh(cl *reconcile.Cluster, services map[string]*cluster.Service) *meshRun {
	quiet := *cl
	quiet.Report, quiet.Mesh = nil, nil
	return &meshRun{e: e, cl: &quiet, services: services, exclude: map[string]bool{}}
}

// routed reports whether the mesh serves the replica (it binds a port for
// the mesh on the loopback).
func routed(r *cluster.Replica) bool {
	for _, b := range r.Bindings {
		if b.HostIP == engine.MeshBindIP {
			return true
		}
	}
	return false
}

// BeforeStop takes the replica out of every proxy, then waits until each
// proxy says it no longer routes to it (at most mesh.DefaultDrain) before
// it is stopped; its established connections end within its stop grace
// period.
func (m *meshRun) BeforeStop(ctx context.Context, r *cluster.Replica) {
	if !routed(r) {
		return
	}
	m.mu.Lock()
	m.exclude[r.ID] = true
	w, err := m.push(ctx, true)
	m.mu.Unlock()
	if err != nil {
		m.e.log.Warn().Err(err).Str("container", r.Name).Msg("routing mesh: could not take the replica out of every proxy before stopping it")
		select {
		case <-ctx.Done():
		case <-time.After(mesh.DefaultDrain):
		}
		return
	}
	var hosts []mesh.Host
	for _, name := range w.Ready() {
		hosts = append(hosts, w.Engines[name])
	}
	took := mesh.WaitLeft(ctx, hosts, r.Name, mesh.DefaultDrain, m.e.parallel)
	m.e.log.Debug().Str("container", r.Name).Dur("took", took).Msg("routing mesh: replica left every proxy")
}

// ExtraHosts: the names of the services a new replica of svc reaches
// through the mesh (docs/networking.md, discovery).
func (m *meshRun) ExtraHosts(svc *cluster.Service) []string {
	return mesh.ExtraHosts(svc, m.services)
}

// Started adds the replicas that passed their health wait.
func (m *meshRun) Started(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.push(ctx, true); err != nil {
		m.e.log.Warn().Err(err).Msg("routing mesh: could not add the new replicas to the proxies")
	}
}

// push observes every host and writes the proxies' configurations.
func (m *meshRun) push(ctx context.Context, configOnly bool) (*reconcile.World, error) {
	w := m.cl.Observe(ctx)
	_, err := m.sync(ctx, w, configOnly)
	return w, err
}

// sync computes every host's routes from w and puts them on the hosts.
// A host that needs a proxy and whose platform has no drover binary is
// left out of the mesh before anything is touched (no route leads to its
// replicas, its proxy is left as it is) and reported by name.
func (m *meshRun) sync(ctx context.Context, w *reconcile.World, configOnly bool) ([]mesh.HostResult, error) {
	in, platforms := m.input(w)
	var targets []mesh.Target
	for _, h := range w.Hosts {
		n := h.Node
		if !n.Ready {
			continue
		}
		eng := w.Engines[n.Name]
		t := mesh.Target{
			Name:   n.Name,
			Engine: func(context.Context) (mesh.Host, error) { return eng, nil },
		}
		if obs := w.Obs[n.Name]; obs != nil {
			t.Observed, t.Proxy = true, obs.Proxy
		}
		targets = append(targets, t)
	}
	configs, warnings := mesh.Compute(in)
	for _, wmsg := range warnings {
		m.e.log.Warn().Msg(wmsg)
	}
	opt := mesh.SyncOptions{Cluster: m.e.inv.Cluster, Parallel: m.e.parallel, ConfigOnly: configOnly}
	var unfit []mesh.HostResult
	var unfitErrs []error
	if len(configs) > 0 {
		bins, err := m.binaries()
		if err != nil {
			return nil, err
		}
		images, missing, err := bins.HostImages(configs, platforms, !configOnly)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			for i := range in.Nodes {
				if missing[in.Nodes[i].Name] != nil {
					in.Nodes[i].Ready = false
				}
			}
			kept := targets[:0]
			for _, t := range targets {
				if missing[t.Name] == nil {
					kept = append(kept, t)
				}
			}
			targets = kept
			configs, _ = mesh.Compute(in)
			for _, name := range sortedKeys(missing) {
				err := fmt.Errorf("%s: routing mesh: %w", name, missing[name])
				unfit = append(unfit, mesh.HostResult{Host: name, Actions: []mesh.Action{mesh.SyncError}, Error: missing[name].Error()})
				unfitErrs = append(unfitErrs, err)
			}
		}
		opt.Images = images
	}
	res, err := mesh.Sync(ctx, targets, configs, opt)
	if len(unfit) > 0 && !configOnly {
		res = append(res, unfit...)
		sort.Slice(res, func(i, j int) bool { return res[i].Host < res[j].Host })
		err = errors.Join(append([]error{err}, unfitErrs...)...)
	}
	return res, err
}

// input is what the routes are computed from, and the ready hosts'
// platforms.
func (m *meshRun) input(w *reconcile.World) (mesh.Input, map[string]cluster.Platform) {
	in := mesh.Input{Services: m.services, Exclude: m.exclude, Version: Version, Replicas: w.Replicas()}
	platforms := map[string]cluster.Platform{}
	for _, h := range w.Hosts {
		n := h.Node
		in.Nodes = append(in.Nodes, mesh.Node{Name: n.Name, Address: m.e.clusterIP(n.Name), Ready: n.Ready, Availability: n.Availability})
		if n.Ready {
			platforms[n.Name] = n.Platform()
		}
	}
	return in, platforms
}

// Unfit lists, before the apply changes anything, the hosts that need a
// proxy and whose platform has no drover binary (or why no binary can be
// looked up): the final sync leaves them out and fails the run with the
// same errors. Nothing is read or hashed.
func (m *meshRun) Unfit(w *reconcile.World) []error {
	m.mu.Lock()
	in, platforms := m.input(w)
	m.mu.Unlock()
	configs, _ := mesh.Compute(in)
	if len(configs) == 0 {
		return nil
	}
	bins, err := m.binaries()
	if err != nil {
		return []error{fmt.Errorf("routing mesh: %w", err)}
	}
	_, missing, err := bins.HostImages(configs, platforms, false)
	if err != nil {
		return []error{fmt.Errorf("routing mesh: %w", err)}
	}
	var out []error
	for _, name := range sortedKeys(missing) {
		out = append(out, fmt.Errorf("%s: routing mesh: %w", name, missing[name]))
	}
	return out
}

// binaries are the drover binaries the proxies are made of (found once
// per run): DROVER_PROXY_BINARY's, this one, those beside it.
func (m *meshRun) binaries() (*mesh.Binaries, error) {
	m.binOnce.Do(func() {
		self, err := os.Executable()
		if err != nil {
			self = ""
		}
		m.bins, m.binErr = mesh.FindBinaries(m.e.stdio.Environ(mesh.BinaryEnv), self, runtime.GOOS+"/"+runtime.GOARCH, Version)
	})
	return m.bins, m.binErr
}

// clusterIP is the IP address the other hosts reach name on: its
// private_address, or its address (resolved here when it is a name; "" when
// that fails, which leaves the host out of the mesh with a warning).
func (e *runEnv) clusterIP(name string) string {
	h, ok := e.inv.Host(name)
	if !ok {
		return ""
	}
	a := h.ClusterAddress()
	if net.ParseIP(a) != nil {
		return a
	}
	ips, err := net.LookupIP(a)
	if err != nil || len(ips) == 0 {
		return a
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String()
		}
	}
	return ips[0].String()
}

// logMesh writes one line per host that changed.
func (e *runEnv) logMesh(res []mesh.HostResult) {
	for _, r := range res {
		if len(r.Actions) == 1 && (r.Actions[0] == mesh.UpToDate || r.Actions[0] == mesh.NoProxy) {
			continue
		}
		l := e.log.Info()
		if r.Error != "" {
			l = e.log.Error().Str("error", r.Error)
		}
		l.Str("host", r.Host).Int("routes", r.Routes).Str("took", r.Took.Round(time.Millisecond).String()).Msgf("routing mesh: %v", r.Actions)
	}
}

// Sync is the run's last step: every proxy gets the routes of what now
// runs (observed again when the apply changed something), and the proxies
// are created, restarted or removed as the routes need.
func (m *meshRun) Sync(ctx context.Context, w *reconcile.World, observeAgain bool) error {
	if ctx.Err() != nil {
		return nil
	}
	if observeAgain {
		w = m.cl.Observe(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exclude = map[string]bool{}
	res, err := m.sync(ctx, w, false)
	m.e.logMesh(res)
	return err
}

// removeProxyFrom removes the host's routing mesh proxy and its files
// (node rm); a failure is a warning.
func (e *runEnv) removeProxyFrom(ctx context.Context, name string) {
	t := mesh.Target{
		Name:   name,
		Engine: func(ctx context.Context) (mesh.Host, error) { return e.engineFor(ctx, name) },
	}
	res, err := mesh.Sync(ctx, []mesh.Target{t}, nil, mesh.SyncOptions{Cluster: e.inv.Cluster})
	if err != nil {
		e.log.Warn().Err(err).Str("host", name).Msg("routing mesh: the proxy could not be removed (see docs/networking.md to remove it by hand)")
		return
	}
	e.logMesh(res)
}
