package mesh

import (
	"context"
	"strings"
	"time"

	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/mesh/proxy"
)

// Serves reports whether a proxy's status still routes to replica (a
// backend or a gate of it): until it does not, the proxy may send the
// replica new connections.
func Serves(st *proxy.Status, replica string) bool {
	for _, r := range st.Routes {
		for _, b := range r.Backends {
			if b.Replica == replica || strings.HasPrefix(b.Replica, replica+"@") {
				return true
			}
		}
	}
	return false
}

// WaitLeft waits until no proxy of hosts serves replica any more (each
// applied the configuration without it), at most max; it returns how long
// that took. A host whose status cannot be read (no proxy, or the proxy
// stopped) has nothing to wait for.
func WaitLeft(ctx context.Context, hosts []Host, replica string, max time.Duration, parallel int) time.Duration {
	began := time.Now()
	pending := hosts
	for len(pending) > 0 && time.Since(began) < max && ctx.Err() == nil {
		still := make([]bool, len(pending))
		fanout.Each(ctx, parallel, pending, func(ctx context.Context, i int, h Host) error {
			st, err := ReadStatus(ctx, h)
			still[i] = err == nil && Serves(st, replica)
			return nil
		})
		var next []Host
		for i, h := range pending {
			if still[i] {
				next = append(next, h)
			}
		}
		if pending = next; len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return time.Since(began)
}
