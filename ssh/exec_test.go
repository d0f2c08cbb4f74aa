package ssh

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
)

func TestRunOutputAndExitCode(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.shellServer(t, "h1")
	c := dialT(t, cfg)

	res, err := c.Run(t.Context(), Cmd{Args: []string{"sh", "-c", "echo out; echo err >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("got stdout %q stderr %q", res.Stdout, res.Stderr)
	}

	res, err = c.Run(t.Context(), Cmd{Args: []string{"sh", "-c", "echo partial; echo 'no such image' >&2; echo second >&2; exit 125"}})
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("want *ExitError, got %v", err)
	}
	if exit.Code != 125 || exit.Host != "h1" || exit.Stderr != "no such image\nsecond" {
		t.Fatalf("bad ExitError %+v", exit)
	}
	if got, want := err.Error(), "h1: sh -c: exit 125: no such image"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
	if string(res.Stdout) != "partial\n" {
		t.Errorf("output of a failed command is still returned, got %q", res.Stdout)
	}
	if Reason(err) != "exit 125" {
		t.Errorf("Reason = %q", Reason(err))
	}
}

// TestRunArgvSurvivesRemoteShell sends hostile arguments through the
// remote login shell and checks they arrive unchanged.
func TestRunArgvSurvivesRemoteShell(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.shellServer(t, "h1")
	c := dialT(t, cfg)
	args := []string{"it's", "$(id)", "`id`", "a;b", "x\ny", `\`, "*", "~", "", "FOO=bar", "-n"}
	res, err := c.Run(t.Context(), Cmd{Args: append([]string{"printf", `%s\0`}, args...)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(res.Stdout), strings.Join(args, "\x00")+"\x00"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := c.Run(t.Context(), Cmd{Args: []string{"echo", "a\x00b"}}); err == nil {
		t.Fatal("NUL in an argument must be refused")
	}
	if _, err := c.Run(t.Context(), Cmd{}); err == nil {
		t.Fatal("empty argv must be refused")
	}
}

func TestRunStreams(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.shellServer(t, "h1")
	c := dialT(t, cfg)

	in := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var out, errw bytes.Buffer
	res, err := c.Run(t.Context(), Cmd{
		Args:   []string{"sh", "-c", "cat; echo done >&2"},
		Stdin:  bytes.NewReader(in),
		Stdout: &out,
		Stderr: &errw,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), in) || errw.String() != "done\n" {
		t.Fatalf("stdin/stdout mismatch: %d bytes out, stderr %q", out.Len(), errw.String())
	}
	if res.Stdout != nil || res.Stderr != nil {
		t.Error("nothing is captured when writers are given")
	}

	// Stderr given by the caller still feeds the ExitError.
	_, err = c.Run(t.Context(), Cmd{Args: []string{"sh", "-c", "echo boom >&2; exit 2"}, Stderr: io.Discard})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Stderr != "boom" {
		t.Fatalf("got %v", err)
	}
}

func TestRunContextCancelKillsCommand(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.shellServer(t, "h1")
	c := dialT(t, cfg)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Run(ctx, Cmd{Args: []string{"sleep", "30"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// The connection is still usable.
	if _, err := c.Run(t.Context(), Cmd{Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
}

func TestRunTimeout(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.shellServer(t, "h1")
	c := dialT(t, cfg)

	tests := []struct {
		name    string
		args    []string
		timeout time.Duration
		want    string // "" means success
	}{
		{"finishes in time", []string{"true"}, 10 * time.Second, ""},
		{"too slow", []string{"sleep", "30"}, 200 * time.Millisecond, "h1: sleep 30 did not finish within 200ms"},
		{"script named by $0", []string{"sh", "-c", "sleep 30", "drover-observe"}, 200 * time.Millisecond,
			"h1: drover-observe did not finish within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := c.Run(t.Context(), Cmd{Args: tt.args, Timeout: tt.timeout})
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var te *CommandTimeoutError
			if !errors.Is(err, ErrTimeout) || !errors.As(err, &te) || errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("want a *CommandTimeoutError, got %v", err)
			}
			if te.Error() != tt.want {
				t.Errorf("message %q, want %q", te.Error(), tt.want)
			}
			if Reason(err) != "timeout" {
				t.Errorf("Reason = %q", Reason(err))
			}
		})
	}
	// The caller's own deadline is not reported as the command's.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, Cmd{Args: []string{"sleep", "30"}, Timeout: time.Minute})
	var te *CommandTimeoutError
	if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	// The connection is still usable.
	if _, err := c.Run(t.Context(), Cmd{Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
}

func TestCommandWords(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"docker", "ps", "-a"}, "docker ps"},
		{[]string{"sudo", "-n", "docker", "ps", "-a"}, "docker ps"},
		{[]string{"sh", "-c", "secret script", "drover-load", "sudo"}, "drover-load"},
		{[]string{"sudo", "-n", "sh", "-c", "script", "drover-observe"}, "drover-observe"},
		{[]string{"sh", "-c", "script"}, "sh -c"},
		{[]string{"true"}, "true"},
	}
	for _, tt := range tests {
		if got := summarizeArgs(tt.args); got != tt.want {
			t.Errorf("summarizeArgs(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestRunConcurrentSessions(t *testing.T) {
	var active, peak atomic.Int64
	slow := func(cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
		n := active.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(30 * time.Millisecond)
		active.Add(-1)
		io.WriteString(stdout, cmd)
		return 0
	}
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", slow) // sshd-like MaxSessions 10
	c := dialT(t, cfg)

	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := Join([]string{"job", string(rune('a' + i%26))})
			res, err := c.Run(t.Context(), Cmd{Args: []string{"job", string(rune('a' + i%26))}})
			if err == nil && string(res.Stdout) != want {
				err = errors.New("wrong output " + string(res.Stdout))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if srv.Handshakes() != 1 {
		t.Errorf("%d handshakes, want 1", srv.Handshakes())
	}
	if p := srv.PeakSessions(); p < 2 || p > DefaultMaxSessions {
		t.Errorf("peak %d concurrent sessions, want 2..%d", p, DefaultMaxSessions)
	}
}

func TestKeepAlive(t *testing.T) {
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", func(string, io.Reader, io.Writer, io.Writer) int { return 0 })
	cfg.KeepAlive = 20 * time.Millisecond
	c := dialT(t, cfg)
	waitFor(t, func() bool { return srv.KeepAlives() >= 3 })
	if _, err := c.Run(t.Context(), Cmd{Args: []string{"true"}}); err != nil {
		t.Fatalf("answered keepalives must keep the client open: %v", err)
	}

	// A server that stops answering gets the connection closed.
	dead, cfg := env.server(t, "h2", nil, sshtest.WithoutKeepAliveReplies())
	cfg.KeepAlive = 20 * time.Millisecond
	c = dialT(t, cfg)
	waitFor(t, func() bool {
		_, err := c.Run(t.Context(), Cmd{Args: []string{"true"}})
		return errors.Is(err, ErrClientClosed) || err != nil && dead.KeepAlives() > 0
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
