package ssh

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
)

// dropServer runs "hang" until the connection is dropped under it (the
// first time only) and echoes everything else. It counts executions.
type dropServer struct {
	srv     *sshtest.Server
	cfg     Config
	runs    atomic.Int64
	hanging chan struct{}
}

func newDropServer(t *testing.T) *dropServer {
	env := newTestEnv(t)
	d := &dropServer{hanging: make(chan struct{}, 1)}
	var hung atomic.Bool
	d.srv, d.cfg = env.server(t, "h1", nil, sshtest.WithContextHandler(
		func(ctx context.Context, cmd string, _ io.Reader, stdout, _ io.Writer) int {
			d.runs.Add(1)
			if strings.HasPrefix(cmd, "hang") && hung.CompareAndSwap(false, true) {
				d.hanging <- struct{}{}
				<-ctx.Done() // the connection goes
				return 0
			}
			io.WriteString(stdout, cmd)
			return 0
		}))
	return d
}

// dropWhileHanging drops the connections once the "hang" command runs.
func (d *dropServer) dropWhileHanging(t *testing.T) {
	go func() {
		select {
		case <-d.hanging:
			d.srv.DropConnections()
		case <-time.After(5 * time.Second):
		}
	}()
}

func TestRunnerRedialsOnce(t *testing.T) {
	tests := []struct {
		name       string
		idempotent bool
		wantLost   bool  // the first Run fails with ErrConnectionLost
		wantRuns   int64 // executions of the command on the server
	}{
		{"read is retried", true, false, 2},
		{"change is not retried", false, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDropServer(t)
			p := NewPool(func(string) (Config, error) { return d.cfg, nil }, PoolOptions{})
			defer p.Close()
			r := p.Runner("h1")
			d.dropWhileHanging(t)

			res, err := r.Run(t.Context(), Cmd{Args: []string{"hang", "x"}, Idempotent: tt.idempotent})
			var lost *ConnectionLostError
			if tt.wantLost {
				if !errors.Is(err, ErrConnectionLost) || !errors.As(err, &lost) || !lost.Started ||
					!strings.Contains(err.Error(), "h1: hang x: connection lost while the command ran (it may have run)") {
					t.Fatalf("want a lost connection, got %v", err)
				}
			} else if err != nil || string(res.Stdout) != "hang x" {
				t.Fatalf("retry: got %q, %v", res.Stdout, err)
			}
			if tt.wantLost && Reason(err) != "connection lost" {
				t.Errorf("Reason = %q", Reason(err))
			}
			if n := d.runs.Load(); n != tt.wantRuns {
				t.Errorf("%d executions, want %d", n, tt.wantRuns)
			}
			// Later commands use the new connection.
			if res, err := r.Run(t.Context(), Cmd{Args: []string{"after"}}); err != nil || string(res.Stdout) != "after" {
				t.Fatalf("after the redial: %q, %v", res.Stdout, err)
			}
			if d.srv.Handshakes() != 2 {
				t.Errorf("%d handshakes, want 2", d.srv.Handshakes())
			}

			// A second loss is not redialled.
			d.srv.DropConnections()
			_, err = r.Run(t.Context(), Cmd{Args: []string{"again"}, Idempotent: true})
			if !errors.Is(err, ErrConnectionLost) || !errors.Is(err, errRedialSpent) {
				t.Fatalf("second loss: %v", err)
			}
			if d.srv.Handshakes() != 2 {
				t.Errorf("%d handshakes after the second loss, want 2", d.srv.Handshakes())
			}
		})
	}
}

// TestRunnerCommandFailureIsNotALostConnection: a command that fails on a
// live connection is not retried.
func TestRunnerCommandFailureIsNotALostConnection(t *testing.T) {
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", func(string, io.Reader, io.Writer, io.Writer) int { return 3 })
	p := NewPool(func(string) (Config, error) { return cfg, nil }, PoolOptions{})
	defer p.Close()
	_, err := p.Runner("h1").Run(t.Context(), Cmd{Args: []string{"false"}, Idempotent: true})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || errors.Is(err, ErrConnectionLost) {
		t.Fatalf("got %v", err)
	}
	if srv.Handshakes() != 1 {
		t.Errorf("%d handshakes", srv.Handshakes())
	}
}

// TestFilesRedial: after the connection dies, a read is retried over a new
// connection; an exclusive create, which may have happened, is not.
func TestFilesRedial(t *testing.T) {
	tests := []struct {
		name     string
		op       func(ctx context.Context, f *Files, dir string) error
		wantLost bool
	}{
		{"read is retried", func(ctx context.Context, f *Files, dir string) error {
			_, err := f.ReadFile(ctx, filepath.Join(dir, "state.json"))
			return err
		}, false},
		{"create is not retried", func(ctx context.Context, f *Files, dir string) error {
			return f.CreateExclusive(ctx, filepath.Join(dir, "lock.json"), []byte("me"), 0o600)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			srv, cfg := env.server(t, "h1", echoHandler)
			p := NewPool(func(string) (Config, error) { return cfg, nil }, PoolOptions{})
			defer p.Close()
			f := p.Files("h1")
			dir := t.TempDir()
			if err := f.WriteFileAtomic(t.Context(), filepath.Join(dir, "state.json"), strings.NewReader("v1"), 0o600); err != nil {
				t.Fatal(err)
			}
			srv.DropConnections()
			err := tt.op(t.Context(), f, dir)
			if tt.wantLost != errors.Is(err, ErrConnectionLost) || !tt.wantLost && err != nil {
				t.Fatalf("got %v", err)
			}
			if got, err := f.ReadFile(t.Context(), filepath.Join(dir, "state.json")); err != nil || string(got) != "v1" {
				t.Fatalf("after the redial: %q, %v", got, err)
			}
			if srv.Handshakes() != 2 {
				t.Errorf("%d handshakes, want 2", srv.Handshakes())
			}
		})
	}
}
