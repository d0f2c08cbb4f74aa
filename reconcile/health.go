package reconcile

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Docker's healthcheck defaults, used to bound how long a replica may take
// to become healthy when the spec does not say.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
)

// healthLimit is how long a replica may stay "starting": start_period +
// retries × (interval + timeout).
func healthLimit(h *cluster.Healthcheck) time.Duration {
	interval, timeout, retries, start := defaultHealthInterval, defaultHealthTimeout, defaultHealthRetries, time.Duration(0)
	if h != nil {
		if h.Interval > 0 {
			interval = h.Interval
		}
		if h.Timeout > 0 {
			timeout = h.Timeout
		}
		if h.Retries > 0 {
			retries = h.Retries
		}
		start = h.StartPeriod
	}
	return start + time.Duration(retries)*(interval+timeout)
}

// waitHealthy watches new replicas until each has been running (and, with
// a healthcheck, healthy) for the monitor window. A replica fails when it
// exits, restarts, turns unhealthy, or does not become healthy in time.
// ready, when set, is called once, as soon as every replica is ready (its
// monitor window opened), before the window passed.
func (c *Cluster) waitHealthy(ctx context.Context, w *World, list []started, svc *cluster.Service, monitor, poll time.Duration, ready func()) error {
	if len(list) == 0 {
		return nil
	}
	limit := healthLimit(svc.Container.Healthcheck)
	byHost := map[string][]string{}
	for _, s := range list {
		byHost[s.host] = append(byHost[s.host], s.id)
	}
	startedAt := map[string]time.Time{}
	for _, s := range list {
		startedAt[s.id] = s.at
	}
	hosts := sortedHosts(byHost)
	// The engines' events wake the wait as soon as a replica starts,
	// exits or changes health; the poll stays, for what they miss.
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wake := c.watch(wctx, w, hosts, byHost)
	lastState := map[string]string{}
	g := &gate{monitor: monitor, limit: limit, begin: c.now(), startedAt: startedAt, readySince: map[string]time.Time{}}
	for {
		// One inspect per host, the hosts side by side.
		inspected := make([][]cluster.Replica, len(hosts))
		errs := make([]error, len(hosts))
		c.fanOut(ctx, len(hosts), func(ctx context.Context, i int) error {
			inspected[i], errs[i] = w.Engines[hosts[i]].Inspect(ctx, byHost[hosts[i]]...)
			return nil
		})
		if ctx.Err() != nil {
			return ctx.Err()
		}
		passed := 0
		next := poll // until the next look: the poll, or a window closing sooner
		for hi, host := range hosts {
			if errs[hi] != nil {
				return fmt.Errorf("%s: inspect new replicas: %w", host, errs[hi])
			}
			reps := inspected[hi]
			sort.Slice(reps, func(i, j int) bool { return reps[i].Name < reps[j].Name })
			for _, r := range reps {
				state := r.State
				if r.Health != "" {
					state += "/" + r.Health
				}
				if lastState[r.ID] != state {
					lastState[r.ID] = state
					c.report(Event{Kind: EventReplica, Host: host, Service: r.Service, Slot: r.Slot, Container: r.Name, Message: state})
				}
				now := c.now()
				ok, err := g.judge(&r, host, now)
				if err != nil {
					return err
				}
				if ok {
					passed++
				} else if left, open := g.windowLeft(r.ID, now); open && left < next {
					next = left
				}
			}
		}
		if passed == len(list) {
			if ready != nil {
				ready()
			}
			return nil
		}
		if ready != nil && len(g.readySince) == len(list) {
			// All of them serve: the monitor window only watches them
			// for a failure (the routing mesh routes them from now on).
			ready()
			ready = nil
		}
		if err := c.sleepOrWake(ctx, next, wake); err != nil {
			return err
		}
	}
}

// gate judges a rollout's new replicas against the monitor window and the
// health limit, as a pure function of what was inspected and the time.
type gate struct {
	monitor, limit time.Duration
	begin          time.Time            // when the wait began
	startedAt      map[string]time.Time // by container ID: when docker start returned
	readySince     map[string]time.Time // by container ID: when first seen ready
}

// judge says whether replica r (on host) passed at now: it fails when it
// exited, restarted, turned unhealthy or stayed "starting" past the limit;
// it passes once it has been ready (running, healthy with a healthcheck)
// for the monitor window.
func (g *gate) judge(r *cluster.Replica, host string, now time.Time) (bool, error) {
	switch {
	case r.State == cluster.StateExited || r.State == cluster.StateDead:
		return false, &ReplicaFailedError{Replica: r.Name, Host: host, Failure: ReplicaExited, ExitCode: r.ExitCode}
	case r.Restarts > 0 || r.State == cluster.StateRestarting:
		return false, &ReplicaFailedError{Replica: r.Name, Host: host, Failure: ReplicaRestarted}
	case r.Health == "unhealthy":
		return false, &ReplicaFailedError{Replica: r.Name, Host: host, Failure: ReplicaUnhealthy}
	case r.Health == "starting":
		if now.Sub(g.begin) > g.limit {
			return false, &ReplicaFailedError{Replica: r.Name, Host: host, Failure: ReplicaNotHealthy, Limit: g.limit}
		}
		return false, nil
	case r.State != cluster.StateRunning:
		return false, nil
	}
	since, ok := g.readySince[r.ID]
	if !ok {
		// Without a healthcheck the window opens when docker start
		// returned (this machine's clock; the hosts' clocks may differ),
		// with one when it turned healthy.
		since = now
		if r.Health == "" && !g.startedAt[r.ID].IsZero() {
			since = g.startedAt[r.ID]
		}
		g.readySince[r.ID] = since
	}
	return now.Sub(since) >= g.monitor, nil
}

// windowLeft is how long replica id's monitor window stays open at now;
// open is false when it has not opened (not ready yet).
func (g *gate) windowLeft(id string, now time.Time) (left time.Duration, open bool) {
	since, ok := g.readySince[id]
	if !ok {
		return 0, false
	}
	return g.monitor - now.Sub(since), true
}

// watch merges the hosts' event streams about the new replicas into one
// wake-up channel (one pending value at most). Hosts whose stream cannot
// be opened simply never wake it.
func (c *Cluster) watch(ctx context.Context, w *World, hosts []string, byHost map[string][]string) <-chan struct{} {
	wake := make(chan struct{}, 1)
	for _, host := range hosts {
		ch := w.Engines[host].Watch(ctx, byHost[host])
		go func() {
			for range ch {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}()
	}
	return wake
}

// sleepOrWake waits d on the cluster's clock, or less if wake fires.
func (c *Cluster) sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-wake:
			cancel()
		case <-sctx.Done():
		}
	}()
	c.sleep(sctx, d)
	return ctx.Err()
}
