package reconcile

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/planner"
)

// Desired is the desired state a plan is computed for (drift detection
// and the planner's input); Apply needs only the plan.
type Desired struct {
	Services map[string]*cluster.Service // by full name
	// Previous holds each service's previous generation, for automatic
	// rollback; absent when there is none.
	Previous map[string]*cluster.Service
	Networks map[string]cluster.Network // by docker name
	Volumes  map[string]cluster.Volume  // by docker name
}

// DefaultUpdateTimeout bounds a rolling update when neither the command
// line nor the service sets a timeout: nothing waits forever.
const DefaultUpdateTimeout = 10 * time.Minute

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// UpdateTimeout, when set (--timeout), bounds each service's rollout
	// over its x-drover.update_timeout.
	UpdateTimeout time.Duration
	// Poll is how often replicas are inspected while waiting; 0 = 250ms.
	Poll time.Duration
	// NewID makes the short id of a container name; nil = random.
	NewID func() string
	// BeforeChanges, when set, runs once the plan passed its checks
	// (images present) and before the first change; its error stops the
	// apply as a PreflightError.
	BeforeChanges func(ctx context.Context) error
}

// Outcome says how one service's rollout ended.
type Outcome struct {
	Service    string              `json:"service"`
	State      cluster.UpdateState `json:"state"`
	Reason     string              `json:"reason,omitempty"`
	Created    int                 `json:"created"`
	Replaced   int                 `json:"replaced"`
	Removed    int                 `json:"removed"`
	RolledBack int                 `json:"rolled_back,omitempty"`
}

// Result sums up an Apply.
type Result struct {
	Services []Outcome `json:"services"`
	Networks int       `json:"networks_created"`
	Volumes  int       `json:"volumes_created"`
}

// Changed reports whether anything on the hosts changed.
func (r *Result) Changed() bool {
	if r.Networks+r.Volumes > 0 {
		return true
	}
	for _, o := range r.Services {
		if o.Created+o.Replaced+o.Removed+o.RolledBack > 0 {
			return true
		}
	}
	return false
}

// Apply carries out a plan. Images are made present on every host that
// needs them before anything changes; a host that lacks one and cannot pull
// it stops the run with nothing changed.
func (c *Cluster) Apply(ctx context.Context, p *planner.Plan, w *World, opt ApplyOptions) (*Result, error) {
	if opt.Poll <= 0 {
		opt.Poll = 250 * time.Millisecond
	}
	if opt.NewID == nil {
		opt.NewID = randomID
	}
	res := &Result{}
	if err := c.ensureImages(ctx, p, w); err != nil {
		return res, err
	}
	if opt.BeforeChanges != nil {
		if err := opt.BeforeChanges(ctx); err != nil {
			return res, &PreflightError{Err: err}
		}
	}
	if err := c.createResources(ctx, p, w, res); err != nil {
		return res, err
	}
	var mu sync.Mutex
	var errs []error
	outcomes := map[string]Outcome{}
	rollouts := make(map[string]planner.Rollout, len(p.Rollouts))
	for _, r := range p.Rollouts {
		rollouts[r.Service] = r
	}
	for _, level := range rolloutLevels(p) {
		// Services of one level do not depend on each other: roll them
		// out side by side.
		// Not bounded by Parallel: each service's own steps are.
		fanout.Each(ctx, len(level), level, func(ctx context.Context, _ int, group []planner.Action) error {
			name := group[0].Service
			out, err := c.applyService(ctx, group, rollouts[name], p.Services[name], p.Previous[name], w, opt)
			mu.Lock()
			defer mu.Unlock()
			outcomes[name] = out
			if err != nil {
				errs = append(errs, err)
			}
			return nil
		})
		if ctx.Err() != nil {
			break
		}
	}
	for _, name := range sortedHosts(outcomes) {
		res.Services = append(res.Services, outcomes[name])
	}
	return res, errors.Join(errs...)
}

// rolloutLevels groups the plan's actions by service and the services by
// the plan's dependency levels: a level's services roll out side by side,
// after every service of the levels before.
func rolloutLevels(p *planner.Plan) [][][]planner.Action {
	level := map[string]int{}
	for i, names := range p.Levels {
		for _, n := range names {
			level[n] = i
		}
	}
	var out [][][]planner.Action
	for _, g := range groupByService(p.Actions) {
		l := level[g[0].Service] // 0 for a service without a level (removed)
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], g)
	}
	return out
}

// groupByService splits the plan's actions into per-service runs, keeping
// the planner's (dependency) order and dropping keeps.
func groupByService(actions []planner.Action) [][]planner.Action {
	var out [][]planner.Action
	idx := map[string]int{}
	for _, a := range actions {
		if a.Kind == planner.Keep {
			continue
		}
		i, ok := idx[a.Service]
		if !ok {
			i = len(out)
			idx[a.Service] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], a)
	}
	return out
}

func randomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 10)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ensureImages checks every (host, image) the plan starts containers from
// and pulls the missing ones, all before any change.
func (c *Cluster) ensureImages(ctx context.Context, p *planner.Plan, w *World) error {
	type need struct{ host, image string }
	seen := map[need]bool{}
	var missing []need
	for _, a := range p.Actions {
		if a.Kind != planner.Create && a.Kind != planner.Replace {
			continue
		}
		svc := p.Services[a.Service]
		if svc == nil {
			return &PreflightError{Err: fmt.Errorf("the plan starts %s on %s but carries no spec of it", a.Service, a.Host)}
		}
		n := need{a.Host, svc.Container.Image}
		if seen[n] {
			continue
		}
		seen[n] = true
		if obs := w.Obs[a.Host]; obs != nil {
			if _, ok := obs.HasImage(n.image); ok {
				continue
			}
		}
		missing = append(missing, n)
	}
	errs := fanout.Each(ctx, c.Parallel, missing, func(ctx context.Context, _ int, n need) error {
		c.report(Event{Kind: EventPull, Host: n.host, Message: n.image})
		if err := w.Engines[n.host].Pull(ctx, n.image); err != nil {
			return &ImageMissingError{Image: n.image, Host: n.host, Err: err}
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		return &PreflightError{Err: err}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// createResources creates the plan's networks and volumes, hosts in
// parallel, each labelled with the stack the plan gives it.
func (c *Cluster) createResources(ctx context.Context, p *planner.Plan, w *World, res *Result) error {
	var mu sync.Mutex
	byHost := map[string][]func() error{}
	for _, n := range p.Networks {
		def := cluster.Network{Name: n.Name}
		if n.Network != nil {
			def = *n.Network
		}
		stack := n.Stack
		byHost[n.Host] = append(byHost[n.Host], func() error {
			err := w.Engines[n.Host].CreateNetwork(ctx, def, stack)
			if err == nil {
				mu.Lock()
				res.Networks++
				mu.Unlock()
				c.report(Event{Kind: EventResource, Host: n.Host, Message: "network " + n.Name})
			}
			return err
		})
	}
	for _, v := range p.Volumes {
		def := cluster.Volume{Name: v.Name}
		if v.Volume != nil {
			def = *v.Volume
		}
		stack := v.Stack
		byHost[v.Host] = append(byHost[v.Host], func() error {
			err := w.Engines[v.Host].CreateVolume(ctx, def, stack)
			if err == nil {
				mu.Lock()
				res.Volumes++
				mu.Unlock()
				c.report(Event{Kind: EventResource, Host: v.Host, Message: "volume " + v.Name})
			}
			return err
		})
	}
	hosts := sortedHosts(byHost)
	errs := fanout.Each(ctx, c.Parallel, hosts, func(ctx context.Context, _ int, host string) error {
		for _, step := range byHost[host] {
			if err := step(); err != nil {
				return fmt.Errorf("%s: %w", host, err)
			}
		}
		return nil
	})
	return errors.Join(errs...)
}

// labelsFor are the drover labels of a new container.
func labelsFor(clusterName string, svc *cluster.Service, slot string) map[string]string {
	return map[string]string{
		cluster.LabelCluster:    clusterName,
		cluster.LabelStack:      svc.Stack,
		cluster.LabelService:    svc.FullName(),
		cluster.LabelSlot:       slot,
		cluster.LabelSpec:       svc.Container.Hash(),
		cluster.LabelGeneration: strconv.Itoa(svc.Generation),
	}
}

// sortedHosts returns map keys sorted, for deterministic fan-out.
func sortedHosts[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
