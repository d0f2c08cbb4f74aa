package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/ssh/sshtest"
)

// testEnv is a client-side ~/.ssh: a known_hosts file and identity files.
type testEnv struct {
	dir        string
	knownHosts string
}

func newTestEnv(t testing.TB) *testEnv {
	dir := t.TempDir()
	return &testEnv{dir: dir, knownHosts: filepath.Join(dir, "known_hosts")}
}

// trust appends srv's host key to known_hosts.
func (e *testEnv) trust(t testing.TB, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(e.knownHosts, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// config returns a Config for srv authenticating with its ClientKey.
func (e *testEnv) config(t testing.TB, name string, srv *sshtest.Server) Config {
	t.Helper()
	key := filepath.Join(e.dir, "id_"+name)
	if _, err := os.Stat(key); err != nil {
		sshtest.WriteKey(t, key, srv.ClientKey, nil)
	}
	return Config{
		Name:           name,
		Endpoint:       Endpoint{User: "drover", Host: srv.Host, Port: srv.Port},
		IdentityFiles:  []string{key},
		KnownHostsFile: e.knownHosts,
	}
}

// server starts a trusted server and returns it with its Config.
func (e *testEnv) server(t testing.TB, name string, h sshtest.Handler, opts ...sshtest.Option) (*sshtest.Server, Config) {
	t.Helper()
	srv := sshtest.NewServer(t, h, opts...)
	e.trust(t, srv.KnownHostsLine())
	return srv, e.config(t, name, srv)
}

// shellServer is a trusted server that runs commands with /bin/sh.
func (e *testEnv) shellServer(t testing.TB, name string) (*sshtest.Server, Config) {
	return e.server(t, name, nil, sshtest.WithContextHandler(sshtest.Shell))
}

func dialT(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
