package planner

import (
	"fmt"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

// bigCluster is 1,000 nodes in 5 zones, half with SSDs, and 100 services of
// 100 replicas each: every 5th constrained to SSD nodes, every 3rd spread
// over zones, every 7th limited to 1 replica per node with reservations,
// every 10th publishing a host port.
func bigCluster() Input {
	var in Input
	for i := 0; i < 1000; i++ {
		mods := []hostMod{label("zone", fmt.Sprintf("z%d", i%5)), capacity(16, 64<<30), networks("big_default")}
		if i%2 == 0 {
			mods = append(mods, label("disk", "ssd"))
		}
		in.Observed = append(in.Observed, host(fmt.Sprintf("node%04d", i), mods...))
	}
	for i := 0; i < 100; i++ {
		mods := []svcMod{func(s *cluster.Service) {
			s.Container.Networks = []cluster.NetworkAttachment{{Name: "big_default"}}
		}}
		if i%5 == 0 {
			mods = append(mods, constraints("node.labels.disk == ssd"))
		}
		if i%3 == 0 {
			mods = append(mods, spread("node.labels.zone"))
		}
		if i%7 == 0 {
			mods = append(mods, maxPer(1), reserve(0.5, 256<<20))
		}
		if i%10 == 0 {
			mods = append(mods, publish(uint32(9000+i)))
		}
		in.Services = append(in.Services, svc("big", fmt.Sprintf("svc%03d", i), 100, mods...))
	}
	return in
}

func BenchmarkCompute1000x10000(b *testing.B) {
	in := bigCluster()
	p := mustCompute(b, in)
	if n := p.Changes(); n != 10000 {
		b.Fatalf("%d changes, want 10000", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Compute(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkComputeNoop1000x10000 plans the same cluster once everything runs.
func BenchmarkComputeNoop1000x10000(b *testing.B) {
	in := bigCluster()
	in = apply(in, mustCompute(b, in))
	if p := mustCompute(b, in); !p.Empty() || len(p.Actions) != 10000 {
		b.Fatalf("not a no-op: %d changes", p.Changes())
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := Compute(in); err != nil {
			b.Fatal(err)
		}
	}
}
