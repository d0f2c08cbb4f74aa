package fanout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// TestEachBounded: never more than limit items at once, and every item
// runs once with its own index.
func TestEachBounded(t *testing.T) {
	for _, limit := range []int{-1, 0, 1, 3, 100} {
		items := make([]int, 40)
		for i := range items {
			items[i] = i * 10
		}
		var now, peak atomic.Int32
		var mu sync.Mutex
		seen := map[int]int{}
		gate := make(chan struct{})
		// The first items wait until limit of them run at once (or all
		// have started), so a missing bound shows as a peak above it.
		want := int32(min(max(1, limit), len(items)))
		var once sync.Once
		errs := Each(context.Background(), limit, items, func(ctx context.Context, i, item int) error {
			n := now.Add(1)
			defer now.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if n == want {
				once.Do(func() { close(gate) })
			}
			<-gate
			mu.Lock()
			seen[i] = item
			mu.Unlock()
			if i%7 == 0 {
				return errors.New("odd one")
			}
			return nil
		})
		if p := peak.Load(); p != want {
			t.Errorf("limit %d: peak %d at once, want %d", limit, p, want)
		}
		for i := range items {
			if seen[i] != i*10 {
				t.Errorf("limit %d: item %d ran with %d", limit, i, seen[i])
			}
			if (errs[i] != nil) != (i%7 == 0) {
				t.Errorf("limit %d: item %d: err %v", limit, i, errs[i])
			}
		}
	}
}

// TestEachStopsStarting: after ctx ends, items not yet started do not run
// and say why.
func TestEachStopsStarting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	errs := N(ctx, 1, 10, func(ctx context.Context, i int) error {
		ran.Add(1)
		if i == 2 {
			cancel()
		}
		return nil
	})
	if n := ran.Load(); n != 3 {
		t.Errorf("%d items ran after a cancel at the third, want 3", n)
	}
	for i, err := range errs {
		if skipped := i > 2; skipped != (errors.Is(err, ErrNotStarted) && errors.Is(err, context.Canceled)) {
			t.Errorf("item %d: %v", i, err)
		}
	}
	if got := Started(errs); len(got) != 3 {
		t.Errorf("Started kept %d errors, want the 3 items that ran", len(got))
	}
}
