package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/state"
)

// defaultConnectTimeout applies when neither the inventory nor ~/.ssh/config
// sets one.
const defaultConnectTimeout = 5 * time.Second

// runEnv is what one invocation works with. Built once per command from
// the global flags; nothing in it is package state.
type runEnv struct {
	stdio       IO
	log         zerolog.Logger
	output      string
	inv         *cluster.Inventory
	sshCfg      *ssh.SSHConfig
	home        string
	parallel    int
	accept      bool
	lockTimeout time.Duration
	pool        *ssh.Pool
	// dryRun makes every host's Engine API client refuse changes.
	dryRun bool

	apiMu sync.Mutex
	apis  map[string]*engine.API // per host, for the run
}

// newEnv loads the inventory and prepares (but does not open) SSH.
func newEnv(c *cli.Context, stdio IO) (*runEnv, error) {
	log, err := newLogger(c, stdio.Stderr)
	if err != nil {
		return nil, err
	}
	out, err := outputFormat(c)
	if err != nil {
		return nil, err
	}
	home, _ := os.UserHomeDir()
	inv, err := cluster.LoadInventory(c.String("inventory"), home)
	if err != nil {
		return nil, err
	}
	e := &runEnv{stdio: stdio, log: log, output: out, inv: inv, home: home, parallel: c.Int("parallel"), accept: c.Bool("accept-new-host-keys"), lockTimeout: c.Duration("lock-timeout")}
	if e.parallel < 1 {
		return nil, fmt.Errorf("--parallel %d: must be at least 1", e.parallel)
	}
	cfgPath := c.String("ssh-config")
	explicit := cfgPath != ""
	if !explicit {
		cfgPath = filepath.Join(home, ".ssh", "config")
	}
	f, err := os.Open(cfgPath)
	switch {
	case err == nil:
		defer f.Close()
		if e.sshCfg, err = ssh.LoadSSHConfig(f); err != nil {
			return nil, fmt.Errorf("ssh config %s: %w", cfgPath, err)
		}
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	default:
		return nil, fmt.Errorf("ssh config: %w", err)
	}
	e.pool = ssh.NewPool(e.sshConfigFor, ssh.PoolOptions{})
	return e, nil
}

// newEnvStore opens the invocation's environment and its state backend.
func newEnvStore(c *cli.Context, stdio IO) (*runEnv, state.Store, error) {
	e, err := newEnv(c, stdio)
	if err != nil {
		return nil, nil, err
	}
	st, err := e.store()
	if err != nil {
		e.close()
		return nil, nil, err
	}
	return e, st, nil
}

func (e *runEnv) close() {
	e.apiMu.Lock()
	for _, a := range e.apis {
		a.Close()
	}
	e.apis = nil
	e.apiMu.Unlock()
	if e.pool != nil {
		e.pool.Close()
	}
}

// sshConfigFor resolves how to reach a host: the inventory's host settings,
// then its ssh: defaults, then ~/.ssh/config for the host's address, then
// built-in defaults.
func (e *runEnv) sshConfigFor(name string) (ssh.Config, error) {
	h, ok := e.inv.Host(name)
	if !ok {
		return ssh.Config{}, fmt.Errorf("no host %q in %s", name, e.inv.Path)
	}
	s := e.inv.SSHFor(h)
	var rs ssh.Resolved
	if e.sshCfg != nil {
		rs = e.sshCfg.Resolve(h.Address)
	}
	cfg := ssh.Config{
		Name:              h.Name,
		Endpoint:          ssh.Endpoint{Host: h.Address, User: s.User, Port: s.Port},
		KnownHostsFile:    s.KnownHosts,
		AcceptNewHostKeys: e.accept,
		ConnectTimeout:    s.ConnectTimeout,
		AgentSocket:       e.stdio.Environ("SSH_AUTH_SOCK"),
	}
	if p := e.stdio.Environ("DROVER_SSH_PASSPHRASE"); p != "" {
		cfg.Passphrase = []byte(p)
	}
	if rs.HostName != "" {
		cfg.Host = rs.HostName
	}
	if cfg.User == "" {
		cfg.User = rs.User
	}
	if cfg.User == "" {
		if u, err := user.Current(); err == nil {
			cfg.User = u.Username
		}
	}
	if cfg.Port == 0 {
		cfg.Port = rs.Port
	}
	switch {
	case s.IdentityFile != "":
		cfg.IdentityFiles = []string{s.IdentityFile}
	case len(rs.IdentityFiles) > 0:
		for _, f := range rs.IdentityFiles {
			cfg.IdentityFiles = append(cfg.IdentityFiles, cluster.ExpandPath(f, e.home, e.home))
		}
	default:
		cfg.IdentityFiles = ssh.DefaultIdentityFiles(e.home)
	}
	if cfg.KnownHostsFile == "" {
		cfg.KnownHostsFile = filepath.Join(e.home, ".ssh", "known_hosts")
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	jumps := s.Jump
	if jumps == nil && rs.ProxyJump != "" && rs.ProxyJump != "none" {
		jumps = []string{rs.ProxyJump}
	}
	for _, j := range jumps {
		eps, err := ssh.ParseJump(j, cfg.User)
		if err != nil {
			return cfg, fmt.Errorf("host %s: jump %q: %w", name, j, err)
		}
		// A hop named by alias may itself be described in ~/.ssh/config.
		for i := range eps {
			if e.sshCfg == nil {
				continue
			}
			jr := e.sshCfg.Resolve(eps[i].Host)
			if jr.HostName != "" {
				eps[i].Host = jr.HostName
			}
			if eps[i].Port == 0 {
				eps[i].Port = jr.Port
			}
		}
		cfg.Jumps = append(cfg.Jumps, eps...)
	}
	return cfg, nil
}

// engineFor returns the docker engine of a host over its pooled connection.
func (e *runEnv) engineFor(ctx context.Context, name string) (*engine.Engine, error) {
	cl, err := e.pool.Client(ctx, name)
	if err != nil {
		return nil, err
	}
	h, _ := e.inv.Host(name)
	s := e.inv.SSHFor(h)
	sudo := s.Sudo != nil && *s.Sudo
	api, err := e.apiFor(name, cl, e.inv.DockerFor(h), sudo)
	if err != nil {
		return nil, err
	}
	return &engine.Engine{Host: name, Cluster: e.inv.Cluster, Sudo: sudo, R: cl, API: api}, nil
}

// apiFor returns the host's Engine API client, one per host for the run
// so that its streams are reused across calls.
func (e *runEnv) apiFor(name string, cl *ssh.Client, d cluster.DockerSettings, sudo bool) (*engine.API, error) {
	e.apiMu.Lock()
	defer e.apiMu.Unlock()
	if a, ok := e.apis[name]; ok {
		return a, nil
	}
	var dial engine.Dialer
	switch d.Transport {
	case cluster.StreamLocal:
		dial = func(ctx context.Context) (net.Conn, error) { return cl.DialSocket(ctx, d.Socket) }
	default:
		argv := engine.DialStdioArgs(sudo)
		dial = func(ctx context.Context) (net.Conn, error) { return cl.DialCommand(ctx, argv) }
	}
	a, err := engine.NewAPI(engine.APIConfig{Host: name, Dial: dial, DryRun: e.dryRun, Log: e.log})
	if err != nil {
		return nil, err
	}
	if e.apis == nil {
		e.apis = map[string]*engine.API{}
	}
	e.apis[name] = a
	return a, nil
}
