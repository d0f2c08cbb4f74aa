package state

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/ssh/sshtest"
)

// rootedFS maps the absolute paths the backend uses into a directory of
// its own, so that three test servers sharing this machine's filesystem
// act as three managers.
type rootedFS struct {
	c    *ssh.Client
	root string
}

func (r rootedFS) p(name string) string { return filepath.Join(r.root, name) }

func (r rootedFS) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return r.c.ReadFile(ctx, r.p(name))
}

func (r rootedFS) WriteFileAtomic(ctx context.Context, name string, rd io.Reader, mode os.FileMode) error {
	return r.c.WriteFileAtomic(ctx, r.p(name), rd, mode)
}

func (r rootedFS) CreateExclusive(ctx context.Context, name string, data []byte, mode os.FileMode) error {
	return r.c.CreateExclusive(ctx, r.p(name), data, mode)
}

func (r rootedFS) Remove(ctx context.Context, name string) error {
	return r.c.Remove(ctx, r.p(name))
}

// TestManagersOverSFTP runs the backend against three real SSH servers with
// the sftp subsystem.
func TestManagersOverSFTP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	key := sshtest.NewKey(t)
	keyFile := sshtest.WriteKey(t, filepath.Join(dir, "id_ed25519"), key, nil)
	knownHosts := filepath.Join(dir, "known_hosts")
	names := []string{"m1", "m2", "m3"}
	servers := map[string]*sshtest.Server{}
	cfgs := map[string]ssh.Config{}
	roots := map[string]string{}
	var lines []string
	for _, n := range names {
		srv := sshtest.NewServer(t, nil, sshtest.WithClientKey(key))
		servers[n] = srv
		lines = append(lines, srv.KnownHostsLine())
		cfgs[n] = ssh.Config{
			Name:           n,
			Endpoint:       ssh.Endpoint{User: "drover", Host: srv.Host, Port: srv.Port},
			IdentityFiles:  []string{keyFile},
			KnownHostsFile: knownHosts,
			ConnectTimeout: 5 * time.Second,
		}
		roots[n] = filepath.Join(dir, "fs-"+n)
	}
	if err := os.WriteFile(knownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A run: one pool, one backend.
	run := func(lag func(string, int64)) *Managers {
		pool := ssh.NewPool(func(name string) (ssh.Config, error) { return cfgs[name], nil }, ssh.PoolOptions{})
		t.Cleanup(func() { pool.Close() })
		return &Managers{
			Hosts: names,
			Dir:   "/var/lib/drover/lab",
			TTL:   time.Minute,
			Open: func(ctx context.Context, host string) (RemoteFS, error) {
				c, err := pool.Client(ctx, host)
				if err != nil {
					return nil, err
				}
				return rootedFS{c, roots[host]}, nil
			},
			OnLagging: lag,
		}
	}
	onDisk := func(host, file string) (*State, bool) {
		data, err := os.ReadFile(filepath.Join(roots[host], "var/lib/drover/lab", file))
		if errors.Is(err, os.ErrNotExist) {
			return nil, false
		}
		if err != nil {
			t.Fatal(err)
		}
		var s State
		if err := json.Unmarshal(data, &s); err != nil {
			t.Fatalf("%s %s: %v", host, file, err)
		}
		return &s, true
	}
	files := func(host string) string {
		entries, _ := os.ReadDir(filepath.Join(roots[host], "var/lib/drover/lab"))
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}

	// All up, fresh managers.
	m := run(nil)
	if _, err := m.Read(ctx); !errors.Is(err, ErrNoState) {
		t.Fatalf("fresh read: %v", err)
	}
	lk, err := m.Lock(ctx, LockInfo{Owner: "alice@lap", Command: "stack deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(nil).Lock(ctx, LockInfo{Owner: "bob@ci"}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("second lock over sftp: %v", err)
	}
	s := New("lab")
	s.Serial++
	if err := m.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if got := files(n); got != "state.json" {
			t.Errorf("%s holds %q", n, got)
		}
		if fi, err := os.Stat(filepath.Join(roots[n], "var/lib/drover/lab/state.json")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", n, fi, err)
		}
	}

	// m3 down: a new run still locks, reads and writes; m3 lags.
	servers["m3"].Close()
	var lagging []string
	m = run(func(h string, serial int64) { lagging = append(lagging, h) })
	lk, err = m.Lock(ctx, LockInfo{Owner: "carol@cron"})
	if err != nil {
		t.Fatalf("lock with one manager down: %v", err)
	}
	s, err = m.Read(ctx)
	if err != nil || s.Serial != 1 {
		t.Fatalf("read with one manager down: %+v, %v", s, err)
	}
	s.Serial++
	if err := m.Write(ctx, s); err != nil {
		t.Fatalf("write with one manager down: %v", err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Join(lagging, ",") != "m3,m3" {
		t.Errorf("lagging %v", lagging)
	}
	for _, n := range []string{"m1", "m2"} {
		cur, _ := onDisk(n, "state.json")
		bak, _ := onDisk(n, "state.json.backup")
		if cur == nil || cur.Serial != 2 || bak == nil || bak.Serial != 1 {
			t.Errorf("%s: state %+v, backup %+v", n, cur, bak)
		}
		if got := files(n); got != "state.json state.json.backup" {
			t.Errorf("%s holds %q", n, got)
		}
	}
	if cur, _ := onDisk("m3", "state.json"); cur == nil || cur.Serial != 1 {
		t.Errorf("m3: %+v", cur)
	}

	// m2 down too: refused, with the reasons.
	servers["m2"].Close()
	m = run(nil)
	_, err = m.Lock(ctx, LockInfo{Owner: "dave@ci"})
	const want = "state needs a majority of managers: 1 of 3 reachable (m2: connection refused; m3: connection refused)"
	if err == nil || err.Error() != want {
		t.Fatalf("lock with two managers down: %v\nwant: %s", err, want)
	}
	if err := m.Write(ctx, stateAt(s.Lineage, 3, "x")); err == nil || err.Error() != want {
		t.Fatalf("write with two managers down: %v", err)
	}
	if got := files("m1"); got != "state.json state.json.backup" {
		t.Errorf("m1 holds %q", got)
	}
}
