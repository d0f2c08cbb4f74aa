package ssh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/drover-sh/drover/ssh/sshtest"
	gossh "golang.org/x/crypto/ssh"
)

func TestHostKeyUnknown(t *testing.T) {
	env := newTestEnv(t)
	srv := sshtest.NewServer(t, nil)
	cfg := env.config(t, "web1", srv) // known_hosts does not even exist

	_, err := Dial(t.Context(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
		t.Fatalf("want unknown host key error, got %v", err)
	}
	fp := gossh.FingerprintSHA256(srv.HostKey)
	msg := err.Error()
	for _, want := range []string{"web1", fp, "--accept-new-host-keys"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if Reason(err) != "host key unknown" {
		t.Errorf("Reason = %q", Reason(err))
	}
	if _, err := os.Stat(env.knownHosts); !os.IsNotExist(err) {
		t.Error("known_hosts must not be created without AcceptNewHostKeys")
	}
}

func TestHostKeyAcceptNew(t *testing.T) {
	env := newTestEnv(t)
	env.knownHosts = filepath.Join(env.dir, "new", ".ssh", "known_hosts")
	srv := sshtest.NewServer(t, func(string, io.Reader, io.Writer, io.Writer) int { return 0 })
	cfg := env.config(t, "web1", srv)
	cfg.AcceptNewHostKeys = true
	dialT(t, cfg)

	data, err := os.ReadFile(env.knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != srv.KnownHostsLine()+"\n" {
		t.Fatalf("known_hosts = %q, want the server's line", data)
	}
	assertMode(t, env.knownHosts, 0o600)
	assertMode(t, filepath.Dir(env.knownHosts), 0o700|os.ModeDir)

	cfg.AcceptNewHostKeys = false
	dialT(t, cfg) // now known
}

// TestHostKeyAcceptNewParallel records many hosts at once through a pool:
// every line must be intact and present once.
func TestHostKeyAcceptNewParallel(t *testing.T) {
	env := newTestEnv(t)
	cfgs := map[string]Config{}
	var names, want []string
	for i := range 12 {
		srv := sshtest.NewServer(t, nil)
		name := fmt.Sprintf("h%d", i)
		cfg := env.config(t, name, srv)
		cfg.AcceptNewHostKeys = true
		cfgs[name] = cfg
		names = append(names, name)
		want = append(want, srv.KnownHostsLine())
	}
	// Two pools race, as two drover processes would.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := NewPool(func(n string) (Config, error) { return cfgs[n], nil }, PoolOptions{})
			defer p.Close()
			if err := p.ForEach(t.Context(), names, 0, func(_ context.Context, _ string, _ *Client) error { return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(env.knownHosts)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), data)
	}
	for _, w := range want {
		if !strings.Contains(string(data), w+"\n") {
			t.Errorf("missing line %q", w)
		}
	}
}

func TestHostKeyMismatch(t *testing.T) {
	env := newTestEnv(t)
	srv := sshtest.NewServer(t, nil)
	impostor := sshtest.Signer(t, sshtest.NewKey(t)).PublicKey()
	env.trust(t, sshtest.KnownHostsLine(srv.Addr, impostor))
	before, _ := os.ReadFile(env.knownHosts)

	cfg := env.config(t, "db1", srv)
	cfg.AcceptNewHostKeys = true // must not help
	_, err := Dial(t.Context(), cfg)
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyMismatch {
		t.Fatalf("want mismatch, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"db1", gossh.FingerprintSHA256(srv.HostKey), gossh.FingerprintSHA256(impostor)} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if Reason(err) != "host key mismatch" {
		t.Errorf("Reason = %q", Reason(err))
	}
	after, _ := os.ReadFile(env.knownHosts)
	if string(after) != string(before) {
		t.Error("known_hosts changed on mismatch")
	}
}

// TestHostKeyAlgorithmChoice: the server has an ed25519 and an ecdsa key.
// x/crypto prefers ecdsa, so without ordering the algorithms by what
// known_hosts holds, a host known by its ed25519 key would be reported as
// a mismatch.
func TestHostKeyAlgorithmChoice(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edSigner := sshtest.Signer(t, sshtest.NewKey(t))
	ecSigner := sshtest.Signer(t, ecKey)
	srv := sshtest.NewServer(t, nil, sshtest.WithHostKey(edSigner), sshtest.WithHostKey(ecSigner))

	for _, known := range []gossh.PublicKey{edSigner.PublicKey(), ecSigner.PublicKey()} {
		env := newTestEnv(t)
		env.trust(t, sshtest.KnownHostsLine(srv.Addr, known))
		dialT(t, env.config(t, "h", srv))
	}

	// Known by a key type the server no longer has: a mismatch.
	env := newTestEnv(t)
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	env.trust(t, sshtest.KnownHostsLine(srv.Addr, sshtest.Signer(t, other).PublicKey()))
	_, err = Dial(t.Context(), env.config(t, "h", srv))
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyMismatch {
		t.Fatalf("want mismatch, got %v", err)
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode(), want)
	}
}
