package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/system"
	"github.com/rs/zerolog"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/planner"
)

// BenchmarkObservePlan200HostsAPI is BenchmarkObservePlan200Hosts with
// drover's Engine API client against in-process fakes of the Engine API
// (net.Pipe streams, the official client, real JSON shapes): 200 hosts,
// 2,000 converged replicas deployed through the API, then observe + plan.
func BenchmarkObservePlan200HostsAPI(b *testing.B) {
	h := newHarness(b, 200)
	h.c.Parallel = 32 // drover's default --parallel
	fakes := map[string]*enginetest.API{}
	apis := map[string]*engine.API{}
	for _, n := range h.c.Nodes {
		f := enginetest.NewAPI(system.Info{ServerVersion: "20.10.24", OSType: "linux", Architecture: "x86_64", NCPU: 8, MemTotal: 32 << 30, Name: n.Name})
		b.Cleanup(func() { f.Close() })
		a, err := engine.NewAPI(engine.APIConfig{Host: n.Name, Dial: f.Dial, Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { a.Close() })
		fakes[n.Name], apis[n.Name] = f, a
	}
	h.c.Connect = func(_ context.Context, host string) (*engine.Engine, error) {
		return &engine.Engine{Host: host, Cluster: "lab", API: apis[host]}, nil
	}
	var svcs []*cluster.Service
	for i := 0; i < 20; i++ {
		img := fmt.Sprintf("svc%02d:v1", i)
		for _, f := range fakes {
			f.AddImage(image.Summary{ID: fmt.Sprintf("sha256:%064d", i), RepoTags: []string{img}})
		}
		s := svc(fmt.Sprintf("svc%02d", i), 100, img, func(s *cluster.Service) {
			s.Container.Env = map[string]string{"INDEX": fmt.Sprint(i)}
			s.Container.Labels = map[string]string{"team": "bench"}
			s.Reservations = cluster.Resources{NanoCPUs: 1e8, MemoryBytes: 64 << 20}
		})
		if i%4 == 0 {
			s.Container.Healthcheck = &cluster.Healthcheck{Test: []string{"CMD", "/app", "-check"}, Interval: time.Second}
		}
		svcs = append(svcs, s)
	}
	ctx := context.Background()
	_, res, err := h.run(ctx, svcs, nil, h.opts())
	if err != nil {
		b.Fatal(err)
	}
	created := 0
	for _, o := range res.Services {
		created += o.Created
	}
	if created != 2000 {
		b.Fatalf("%d replicas created, want 2000", created)
	}
	d := desired(svcs, nil)
	compute := func(w *World) *planner.Plan {
		p, err := planner.Compute(planner.Input{Services: svcs, Observed: w.Hosts, Networks: d.Networks, Volumes: d.Volumes, Now: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	w := h.c.Observe(ctx)
	if p := compute(w); !p.Empty() || len(p.Actions) != 2000 {
		b.Fatalf("not converged: %d changes, %d actions", p.Changes(), len(p.Actions))
	}
	b.Run("observe+plan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			compute(h.c.Observe(ctx))
		}
	})
	b.Run("observe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.c.Observe(ctx)
		}
	})
}
