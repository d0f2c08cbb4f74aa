package ssh

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
	"golang.org/x/crypto/ssh/agent"
)

func echoHandler(cmd string, _ io.Reader, stdout, _ io.Writer) int {
	io.WriteString(stdout, cmd)
	return 0
}

func TestDialThroughJumpHosts(t *testing.T) {
	env := newTestEnv(t)
	key := sshtest.NewKey(t)
	jump1, _ := env.server(t, "j1", nil, sshtest.WithClientKey(key))
	jump2, _ := env.server(t, "j2", nil, sshtest.WithClientKey(key))
	target, cfg := env.server(t, "app", echoHandler, sshtest.WithClientKey(key))
	cfg.Jumps = []Endpoint{
		{User: "ops", Host: jump1.Host, Port: jump1.Port},
		{Host: jump2.Host, Port: jump2.Port}, // user defaults to the target's
	}
	c := dialT(t, cfg)
	res, err := c.Run(t.Context(), Cmd{Args: []string{"hello"}})
	if err != nil || string(res.Stdout) != "hello" {
		t.Fatalf("got %q, %v", res.Stdout, err)
	}
	for _, s := range []*sshtest.Server{jump1, jump2, target} {
		if s.Handshakes() != 1 {
			t.Errorf("server %s: %d handshakes", s.Addr, s.Handshakes())
		}
	}
	c.Close()

	// Jump hosts are verified too.
	env2 := newTestEnv(t)
	env2.trust(t, target.KnownHostsLine(), jump2.KnownHostsLine())
	cfg.KnownHostsFile = env2.knownHosts
	_, err = Dial(t.Context(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown || !strings.Contains(err.Error(), "via jump host") {
		t.Fatalf("want unknown jump host key, got %v", err)
	}

	// The last jump cannot reach the target.
	cfg.KnownHostsFile = env.knownHosts
	cfg.Port = closedPort(t)
	_, err = Dial(t.Context(), cfg)
	if Reason(err) != "connection refused" {
		t.Fatalf("Reason = %q for %v", Reason(err), err)
	}
}

func TestDialConnectionRefused(t *testing.T) {
	env := newTestEnv(t)
	srv := sshtest.NewServer(t, nil)
	cfg := env.config(t, "h2", srv)
	cfg.Port = closedPort(t)
	_, err := Dial(t.Context(), cfg)
	var de *DialError
	if !errors.As(err, &de) || Reason(err) != "connection refused" {
		t.Fatalf("got %v (reason %q)", err, Reason(err))
	}
	if !strings.HasPrefix(err.Error(), "ssh h2 (127.0.0.1:") || !strings.HasSuffix(err.Error(), "connection refused") {
		t.Errorf("message %q", err)
	}
}

func TestDialTimeout(t *testing.T) {
	env := newTestEnv(t)
	srv := sshtest.NewServer(t, nil)
	cfg := env.config(t, "hung", srv)
	cfg.Port = silentListener(t) // accepts, never speaks SSH: a hung sshd
	cfg.ConnectTimeout = 300 * time.Millisecond

	start := time.Now()
	_, err := Dial(t.Context(), cfg)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("dial took %v with a 300ms timeout", d)
	}
	if !errors.Is(err, ErrTimeout) || Reason(err) != "timeout" {
		t.Fatalf("got %v (reason %q)", err, Reason(err))
	}

	// Cancelling the caller's context ends the handshake too.
	cfg.ConnectTimeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = Dial(ctx, cfg)
	if !errors.Is(err, context.Canceled) || Reason(err) != "canceled" {
		t.Fatalf("got %v (reason %q)", err, Reason(err))
	}
}

// TestDialTimeoutThroughJumpHost: a target behind a jump host that accepts
// TCP but never answers the handshake. A tunnelled channel has no
// deadlines, so only ConnectTimeout (or the caller's context) ends it.
func TestDialTimeoutThroughJumpHost(t *testing.T) {
	env := newTestEnv(t)
	key := sshtest.NewKey(t)
	jump, _ := env.server(t, "j1", nil, sshtest.WithClientKey(key))
	hung := sshtest.NewServer(t, nil, sshtest.WithClientKey(key))
	cfg := env.config(t, "hung", hung)
	cfg.Port = silentListener(t)
	cfg.Jumps = []Endpoint{{Host: jump.Host, Port: jump.Port}}

	tests := []struct {
		name    string
		timeout time.Duration
		cancel  time.Duration // 0: never cancel
		want    error
	}{
		{"connect timeout", 300 * time.Millisecond, 0, ErrTimeout},
		{"caller cancels", time.Minute, 200 * time.Millisecond, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := cfg
			cfg.ConnectTimeout = tt.timeout
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			start := time.Now()
			_, err := Dial(ctx, cfg)
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("dial took %v", d)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAuthEncryptedKey(t *testing.T) {
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", echoHandler)
	cfg.IdentityFiles = []string{sshtest.WriteKey(t, filepath.Join(env.dir, "id_x"), srv.ClientKey, []byte("s3cret"))}

	_, err := Dial(t.Context(), cfg)
	var ide *IdentityError
	if !errors.As(err, &ide) || !ide.Encrypted {
		t.Fatalf("want encrypted identity error, got %v", err)
	}
	if !strings.Contains(err.Error(), "id_x is encrypted: add it to ssh-agent or set DROVER_SSH_PASSPHRASE") {
		t.Errorf("message %q", err)
	}

	cfg.Passphrase = []byte("wrong")
	_, err = Dial(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("got %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), `"wrong"`) {
		t.Fatal("passphrase leaked into an error")
	}

	cfg.Passphrase = []byte("s3cret")
	dialT(t, cfg)
}

func TestAuthErrors(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", echoHandler)

	missing := filepath.Join(env.dir, "id_missing")
	cfg.IdentityFiles = []string{missing}
	_, err := Dial(t.Context(), cfg)
	if !strings.Contains(err.Error(), missing) || Reason(err) != "identity file unusable" {
		t.Fatalf("got %v", err)
	}

	// A key the server does not accept.
	cfg.IdentityFiles = []string{sshtest.WriteKey(t, filepath.Join(env.dir, "id_other"), sshtest.NewKey(t), nil)}
	_, err = Dial(t.Context(), cfg)
	if !errors.Is(err, ErrAuthFailed) || Reason(err) != "auth failed" || !strings.Contains(err.Error(), "id_other") {
		t.Fatalf("got %v", err)
	}

	// Nothing to offer at all.
	cfg.IdentityFiles = nil
	cfg.AgentSocket = filepath.Join(env.dir, "no-agent.sock")
	if _, err = Dial(t.Context(), cfg); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("got %v", err)
	}
}

func TestAuthAgent(t *testing.T) {
	env := newTestEnv(t)
	srv, cfg := env.server(t, "h1", echoHandler)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: srv.ClientKey}); err != nil {
		t.Fatal(err)
	}
	cfg.AgentSocket = serveAgent(t, keyring)
	cfg.IdentityFiles = nil
	dialT(t, cfg)

	// An encrypted identity file is skipped when an agent is available:
	// the agent usually holds its decrypted twin.
	cfg.IdentityFiles = []string{sshtest.WriteKey(t, filepath.Join(env.dir, "id_enc"), srv.ClientKey, []byte("pw"))}
	dialT(t, cfg)
}

// serveAgent serves keyring on a unix socket and returns its path.
func serveAgent(t *testing.T, keyring agent.Agent) string {
	dir, err := os.MkdirTemp("", "agent") // short path: sun_path is ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return sock
}

// closedPort returns a loopback port with nothing listening on it.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
