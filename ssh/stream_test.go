package ssh

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
)

// echoLines answers each line of stdin with "got: LINE"; the command line
// "fail" prints to stderr and exits 127 at once, like a host without docker.
func echoLines(_ context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
	if cmd == "fail" {
		io.WriteString(stderr, "sh: 1: docker: not found\n")
		return 127
	}
	if cmd != "docker system dial-stdio" {
		io.WriteString(stderr, "unexpected command "+cmd+"\n")
		return 2
	}
	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		io.WriteString(stdout, "got: "+sc.Text()+"\n")
	}
	return 0
}

func TestDialCommandIsAConnection(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", nil, sshtest.WithContextHandler(echoLines))
	c := dialT(t, cfg)

	conn, err := c.DialCommand(t.Context(), []string{"docker", "system", "dial-stdio"})
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for _, line := range []string{"one", "two"} {
		if _, err := io.WriteString(conn, line+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if got != "got: "+line+"\n" {
			t.Errorf("read %q", got)
		}
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Errorf("after CloseWrite the command ends cleanly: want io.EOF, got %v", err)
	}
	conn.Close()
}

func TestDialCommandFailureCarriesStderr(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", nil, sshtest.WithContextHandler(echoLines))
	c := dialT(t, cfg)

	conn, err := c.DialCommand(t.Context(), []string{"fail"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.Read(make([]byte, 10))
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("want *ExitError, got %v", err)
	}
	if exit.Code != 127 || !strings.Contains(exit.Stderr, "docker: not found") {
		t.Errorf("ExitError %+v", exit)
	}
}

// TestDialCommandReleasesSlots opens and closes more streams than the
// connection has session slots: each Close must give its slot back.
func TestDialCommandReleasesSlots(t *testing.T) {
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", nil, sshtest.WithContextHandler(echoLines))
	c := dialT(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // does not hang
	defer cancel()
	for i := 0; i < 3*DefaultMaxSessions; i++ {
		conn, err := c.DialCommand(ctx, []string{"docker", "system", "dial-stdio"})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		conn.Close()
	}
	if p := srv.PeakSessions(); p > DefaultMaxSessions {
		t.Errorf("peak %d sessions, want at most %d", p, DefaultMaxSessions)
	}
}
