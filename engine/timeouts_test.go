package engine_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/ssh"
)

// TestTimeoutsByKind: against a stuck daemon, every call fails with the
// deadline of its kind, and the host's reason says docker did not answer.
// Each case has its own host: the first timeout marks a host stuck for
// the run (TestLivenessFailsFastAfterATimeout).
func TestTimeoutsByKind(t *testing.T) {
	// Generous enough for the warm-up call to pass on a loaded machine
	// under -race: it must, or it would mark the host stuck.
	to := engine.Timeouts{Read: 100 * time.Millisecond, Change: 200 * time.Millisecond, Transfer: 300 * time.Millisecond}
	tests := []struct {
		name string
		op   func(context.Context, *engine.Engine) error
		want time.Duration // 0: no deadline, ended by the caller
	}{
		{"observe", func(ctx context.Context, e *engine.Engine) error { _, err := e.Observe(ctx); return err }, 100 * time.Millisecond},
		{"info", func(ctx context.Context, e *engine.Engine) error { _, err := e.Info(ctx); return err }, 100 * time.Millisecond},
		{"inspect", func(ctx context.Context, e *engine.Engine) error { _, err := e.Inspect(ctx, "x"); return err }, 100 * time.Millisecond},
		{"create", func(ctx context.Context, e *engine.Engine) error {
			_, err := e.Create(ctx, engine.Container{Name: "c", Spec: &cluster.ContainerSpec{Image: "web:v1"}})
			return err
		}, 200 * time.Millisecond},
		{"network", func(ctx context.Context, e *engine.Engine) error {
			return e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "s")
		}, 200 * time.Millisecond},
		// The stop's t is whole seconds: 1 ms of grace is t=1.
		{"remove adds the grace period", func(ctx context.Context, e *engine.Engine) error { return e.Remove(ctx, "x", time.Millisecond) }, 200*time.Millisecond + time.Second},
		{"pull", func(ctx context.Context, e *engine.Engine) error { return e.Pull(ctx, "web:v1") }, 300 * time.Millisecond},
		{"load", func(ctx context.Context, e *engine.Engine) error {
			_, err := e.Load(ctx, bytes.NewReader(nil))
			return err
		}, 300 * time.Millisecond},
		{"logs", func(ctx context.Context, e *engine.Engine) error {
			return e.Logs(ctx, "x", engine.LogOptions{}, io.Discard, io.Discard)
		}, 300 * time.Millisecond},
		{"logs --follow", func(ctx context.Context, e *engine.Engine) error {
			return e.Logs(ctx, "x", engine.LogOptions{Follow: true}, io.Discard, io.Discard)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, h := newEngineWith(t, false, to)
			if _, err := e.Info(ctx); err != nil { // the version is negotiated
				t.Fatal(err)
			}
			h.SetDaemonStuck(true)
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if tt.want == 0 {
				ctx, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
				defer cancel()
			}
			err := tt.op(ctx, e)
			var te *ssh.CommandTimeoutError
			if tt.want == 0 {
				if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
					t.Fatalf("want the caller's deadline, got %v", err)
				}
				return
			}
			if !errors.As(err, &te) || te.After != tt.want {
				t.Fatalf("want a timeout after %v, got %v", tt.want, err)
			}
			if r, want := engine.Reason(err), "docker did not answer within "+tt.want.String(); r != want {
				t.Errorf("Reason = %q, want %q", r, want)
			}
		})
	}
}

// TestLivenessFailsFastAfterATimeout: once a read or change of a host timed
// out, its later calls in the run fail at once with that reason; a slow
// transfer does not count.
func TestLivenessFailsFastAfterATimeout(t *testing.T) {
	tests := []struct {
		name     string
		first    func(e *engine.Engine) error
		stuckNow bool // later calls fail without reaching the host
	}{
		{"read", func(e *engine.Engine) error { _, err := e.Info(ctx); return err }, true},
		{"change", func(e *engine.Engine) error { return e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "s") }, true},
		{"transfer", func(e *engine.Engine) error { return e.Pull(ctx, "web:v1") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, h := newEngineWith(t, false, engine.Timeouts{Read: 100 * time.Millisecond, Change: 100 * time.Millisecond, Transfer: 100 * time.Millisecond})
			h.AddImage("web:v1")
			if _, err := e.Info(ctx); err != nil {
				t.Fatal(err)
			}
			h.SetDaemonStuck(true)
			var te *ssh.CommandTimeoutError
			if err := tt.first(e); !errors.As(err, &te) {
				t.Fatalf("first call: %v", err)
			}
			h.SetDaemonStuck(false) // would answer now: the engine must not ask
			calls := h.Calls()
			// Another engine of the same host in the same run.
			e2 := &engine.Engine{Host: e.Host, Cluster: e.Cluster, API: e.API}
			_, err := e2.Inspect(ctx, "x")
			if !tt.stuckNow {
				if h.Calls() == calls || errors.Is(err, ssh.ErrTimeout) {
					t.Fatalf("a slow transfer marked the host stuck: %v", err)
				}
				return
			}
			if h.Calls() != calls {
				t.Errorf("the call reached the stuck host")
			}
			if r := engine.Reason(err); r != "docker did not answer within 100ms" {
				t.Errorf("Reason = %q (%v)", r, err)
			}
		})
	}
}
