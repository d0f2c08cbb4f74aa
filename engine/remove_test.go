package engine_test

import (
	"testing"

	"github.com/drover-sh/drover/engine"
)

// Removing a network, volume or container that is gone succeeds; on a host
// without docker it fails, saying so — "sh: docker: not found" is not a
// removed network.
func TestRemoveMissingIsNotMissingDocker(t *testing.T) {
	remove := map[string]func(*engine.Engine) error{
		"network":   func(e *engine.Engine) error { return e.RemoveNetwork(ctx, "demo_gone") },
		"volume":    func(e *engine.Engine) error { return e.RemoveVolume(ctx, "demo_gone") },
		"container": func(e *engine.Engine) error { return e.Remove(ctx, "gone", 0) },
	}
	for kind, rm := range remove {
		t.Run(kind, func(t *testing.T) {
			e, _ := newEngine(t, false)
			if err := rm(e); err != nil {
				t.Errorf("a missing %s: %v", kind, err)
			}
			e, h := newEngine(t, false)
			h.SetNoDocker(true)
			err := rm(e)
			if err == nil || engine.Reason(err) != "docker not installed" {
				t.Errorf("no docker on the host: err %v (reason %q)", err, engine.Reason(err))
			}
		})
	}
}
