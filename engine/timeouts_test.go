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

// TestTimeoutsByKind: against a stuck daemon, every command fails with the
// deadline of its kind, and the host's reason says docker did not answer.
func TestTimeoutsByKind(t *testing.T) {
	e, h := newEngine(false)
	h.SetDaemonStuck(true)
	e.Timeouts = engine.Timeouts{Read: 10 * time.Millisecond, Change: 20 * time.Millisecond, Transfer: 30 * time.Millisecond}

	tests := []struct {
		name string
		op   func(context.Context) error
		want time.Duration // 0: no deadline, ended by the caller
	}{
		{"observe", func(ctx context.Context) error { _, err := e.Observe(ctx); return err }, 10 * time.Millisecond},
		{"info", func(ctx context.Context) error { _, err := e.Info(ctx); return err }, 10 * time.Millisecond},
		{"inspect", func(ctx context.Context) error { _, err := e.Inspect(ctx, "x"); return err }, 10 * time.Millisecond},
		{"create", func(ctx context.Context) error {
			_, err := e.Create(ctx, engine.Container{Name: "c", Spec: &cluster.ContainerSpec{Image: "web:v1"}})
			return err
		}, 20 * time.Millisecond},
		{"network", func(ctx context.Context) error { return e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "s") }, 20 * time.Millisecond},
		{"remove adds the grace period", func(ctx context.Context) error { return e.Remove(ctx, "x", 5*time.Millisecond) }, 25 * time.Millisecond},
		{"pull", func(ctx context.Context) error { return e.Pull(ctx, "web:v1") }, 30 * time.Millisecond},
		{"load", func(ctx context.Context) error { _, err := e.Load(ctx, bytes.NewReader(nil)); return err }, 30 * time.Millisecond},
		{"logs", func(ctx context.Context) error { return e.Logs(ctx, "x", engine.LogOptions{}, io.Discard, io.Discard) }, 30 * time.Millisecond},
		{"logs --follow", func(ctx context.Context) error {
			return e.Logs(ctx, "x", engine.LogOptions{Follow: true}, io.Discard, io.Discard)
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if tt.want == 0 {
				ctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
			}
			err := tt.op(ctx)
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

func TestTimeoutsDefaults(t *testing.T) {
	e, h := newEngine(false)
	var got []time.Duration
	rec := &recorder{r: h, seen: &got}
	e.R = rec
	e.Info(ctx)
	e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "s")
	e.Pull(ctx, "web:v1")
	want := []time.Duration{engine.DefaultReadTimeout, engine.DefaultChangeTimeout, engine.DefaultTransferTimeout}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d: timeout %v, want %v", i, got[i], want[i])
		}
	}
}

// recorder notes the Timeout of every command it passes on.
type recorder struct {
	r    engine.Runner
	seen *[]time.Duration
}

func (r *recorder) Run(ctx context.Context, cmd ssh.Cmd) (ssh.Result, error) {
	*r.seen = append(*r.seen, cmd.Timeout)
	return r.r.Run(ctx, cmd)
}

// TestLivenessFailsFastAfterATimeout: once a read or change of a host timed
// out, its later commands in the run fail at once with that reason; a
// slow transfer does not count.
func TestLivenessFailsFastAfterATimeout(t *testing.T) {
	tests := []struct {
		name     string
		first    func(e *engine.Engine) error
		stuckNow bool // later commands fail without reaching the host
	}{
		{"read", func(e *engine.Engine) error { _, err := e.Info(ctx); return err }, true},
		{"change", func(e *engine.Engine) error { return e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "s") }, true},
		{"transfer", func(e *engine.Engine) error { return e.Pull(ctx, "web:v1") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, h := newEngine(false)
			h.AddImage("web:v1")
			e.Liveness = &engine.Liveness{}
			e.Timeouts = engine.Timeouts{Read: 10 * time.Millisecond, Change: 10 * time.Millisecond, Transfer: 10 * time.Millisecond}
			h.SetDaemonStuck(true)
			var te *ssh.CommandTimeoutError
			if err := tt.first(e); !errors.As(err, &te) {
				t.Fatalf("first command: %v", err)
			}
			h.SetDaemonStuck(false) // would answer now: the engine must not ask
			calls := h.Calls()
			// Another engine of the same host in the same run.
			e2 := &engine.Engine{Host: e.Host, Cluster: e.Cluster, R: h, Liveness: e.Liveness}
			_, err := e2.Inspect(ctx, "x")
			if !tt.stuckNow {
				if h.Calls() == calls || errors.Is(err, ssh.ErrTimeout) {
					t.Fatalf("a slow transfer marked the host stuck: %v", err)
				}
				return
			}
			if h.Calls() != calls {
				t.Errorf("the command reached the stuck host")
			}
			if r := engine.Reason(err); r != "docker did not answer within 10ms" {
				t.Errorf("Reason = %q (%v)", r, err)
			}
		})
	}
}
