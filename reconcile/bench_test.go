package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
)

// BenchmarkObservePlan200Hosts measures a no-op run minus the network:
// Observe of 200 fake hosts holding 2,000 converged replicas (20 services
// of 100) through drover's Engine API client (the official client over
// in-process net.Pipe streams, the engine's real JSON shapes), then
// planner.Compute. The fake answers with no latency, so this is drover's
// CPU and allocation cost per run plus the fake's HTTP serving.
func BenchmarkObservePlan200Hosts(b *testing.B) {
	h := newHarness(b, 200)
	h.c.Parallel = 32 // drover's default --parallel
	var svcs []*cluster.Service
	for i := 0; i < 20; i++ {
		img := fmt.Sprintf("svc%02d:v1", i)
		h.fc.AddImage(img)
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
	// The whole no-op run; then its halves.
	// Per host and run: five lists and one inspect per container.
	perRun := 0
	for _, host := range h.fc.Hosts() {
		perRun += 5 + len(host.Containers())
	}
	b.Run("observe+plan", func(b *testing.B) {
		h.fc.ResetCounters()
		b.ReportAllocs()
		for b.Loop() {
			compute(h.c.Observe(ctx))
		}
		b.StopTimer()
		if calls := h.fc.Calls(); calls%perRun != 0 {
			b.Errorf("%d requests: not %d per run", calls, perRun)
		}
	})
	b.Run("observe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.c.Observe(ctx)
		}
	})
	b.Run("plan", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			compute(w)
		}
	})
}
