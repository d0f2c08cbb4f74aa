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
	"strings"
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

	// sshKey and knownHosts come from DROVER_SSH_KEY and DROVER_KNOWN_HOSTS
	// (CI secrets): knownHosts is the temporary file holding the
	// variable's contents, removed by close.
	sshKey     []byte
	knownHosts string

	// dryRun makes every host's Engine API client refuse changes.
	dryRun bool

	apiMu sync.Mutex
	apis  map[string]*engine.API // per host, for the run
}

// newEnv loads the inventory and prepares (but does not open) SSH.
func newEnv(c *cli.Context, stdio IO) (*runEnv, error) {
	log, err := newLogger(c, stdio.Stderr, stdio.Environ != nil && stdio.Environ("NO_COLOR") != "")
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
	if !explicit && home != "" {
		cfgPath = filepath.Join(home, ".ssh", "config")
	}
	if cfgPath != "" {
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
	}
	if err := e.secretsFromEnv(); err != nil {
		return nil, err
	}
	e.pool = ssh.NewPool(e.sshConfigFor, ssh.PoolOptions{})
	return e, nil
}

// secretsFromEnv takes the SSH key and known_hosts from DROVER_SSH_KEY and
// DROVER_KNOWN_HOSTS, as CI runners hand out secrets: no agent, no ~/.ssh.
// Keys from the variable are a fixed list (StrictHostKeyChecking=yes):
// --accept-new-host-keys would have nowhere lasting to record a key.
func (e *runEnv) secretsFromEnv() error {
	if v := e.stdio.Environ("DROVER_SSH_KEY"); v != "" {
		e.sshKey = []byte(strings.TrimSpace(v) + "\n")
	}
	v := e.stdio.Environ("DROVER_KNOWN_HOSTS")
	if v == "" {
		return nil
	}
	if e.accept {
		return errors.New("--accept-new-host-keys (DROVER_ACCEPT_NEW_HOST_KEYS) cannot record keys in DROVER_KNOWN_HOSTS: add the hosts' lines (ssh-keyscan) to the variable instead")
	}
	f, err := os.CreateTemp("", "drover-known-hosts-*")
	if err != nil {
		return fmt.Errorf("DROVER_KNOWN_HOSTS: %w", err)
	}
	e.knownHosts = f.Name()
	_, err = f.WriteString(strings.TrimSpace(v) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(e.knownHosts)
		e.knownHosts = ""
		return fmt.Errorf("DROVER_KNOWN_HOSTS: %w", err)
	}
	return nil
}

// newEnvStore opens the invocation's environment and its state backend.
func newEnvStore(c *cli.Context, stdio IO) (*runEnv, *state.Sealed, error) {
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
	if e.knownHosts != "" {
		os.Remove(e.knownHosts)
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
		// State and lock files on managers are small: a file operation
		// gets the deadline of a docker read.
		FileTimeout: s.ReadTimeout,
		AgentSocket: e.stdio.Environ("SSH_AUTH_SOCK"),
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
	case e.sshKey != nil:
		// The CI secret replaces every identity file: the inventory's may
		// name a ~/.ssh the runner does not have.
		cfg.IdentityKeys = []ssh.IdentityKey{{Name: "$DROVER_SSH_KEY", PEM: e.sshKey}}
	case s.IdentityFile != "":
		cfg.IdentityFiles = []string{s.IdentityFile}
	case len(rs.IdentityFiles) > 0:
		for _, f := range rs.IdentityFiles {
			cfg.IdentityFiles = append(cfg.IdentityFiles, cluster.ExpandPath(f, e.home, e.home))
		}
	case e.home != "":
		cfg.IdentityFiles = ssh.DefaultIdentityFiles(e.home)
	}
	switch {
	case e.knownHosts != "":
		cfg.KnownHostsFile, cfg.KnownHostsName = e.knownHosts, "$DROVER_KNOWN_HOSTS"
	case cfg.KnownHostsFile != "":
	case e.home != "":
		cfg.KnownHostsFile = filepath.Join(e.home, ".ssh", "known_hosts")
	default:
		return cfg, fmt.Errorf("no known_hosts: set DROVER_KNOWN_HOSTS (the file's contents) or ssh.known_hosts in %s; there is no HOME for ~/.ssh/known_hosts", e.inv.Path)
	}
	if len(cfg.IdentityFiles) == 0 && len(cfg.IdentityKeys) == 0 && cfg.AgentSocket == "" {
		return cfg, fmt.Errorf("no SSH key: set DROVER_SSH_KEY (the private key's contents), ssh.identity_file in %s, or SSH_AUTH_SOCK for an agent", e.inv.Path)
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

// engineFor returns the docker engine of a host over its pooled connection
// (dialled now, so that an unreachable host fails here), which is redialled
// once if it dies during the run.
func (e *runEnv) engineFor(ctx context.Context, name string) (*engine.Engine, error) {
	if _, err := e.pool.Client(ctx, name); err != nil {
		return nil, err
	}
	h, _ := e.inv.Host(name)
	s := e.inv.SSHFor(h)
	sudo := s.Sudo != nil && *s.Sudo
	api, err := e.apiFor(name, e.inv.DockerFor(h), sudo,
		engine.Timeouts{Read: s.ReadTimeout, Change: s.ChangeTimeout, Transfer: s.TransferTimeout})
	if err != nil {
		return nil, err
	}
	return &engine.Engine{Host: name, Cluster: e.inv.Cluster, API: api}, nil
}

// dialer opens the host's engine streams over the run's pool.
func (e *runEnv) dialer(name string, d cluster.DockerSettings, sudo bool) engine.Dialer {
	if d.Transport == cluster.StreamLocal {
		return func(ctx context.Context) (net.Conn, error) { return e.pool.DialSocket(ctx, name, d.Socket) }
	}
	argv := engine.DialStdioArgs(sudo)
	return func(ctx context.Context) (net.Conn, error) { return e.pool.DialCommand(ctx, name, argv) }
}

// builderEngine is a host's engine for building on it (x-drover.build_on),
// with a client of its own that is never a dry run's: plan --build builds
// too. The caller closes the client.
func (e *runEnv) builderEngine(ctx context.Context, name string) (*engine.Engine, error) {
	if _, err := e.pool.Client(ctx, name); err != nil {
		return nil, err
	}
	h, _ := e.inv.Host(name)
	s := e.inv.SSHFor(h)
	sudo := s.Sudo != nil && *s.Sudo
	a, err := engine.NewAPI(engine.APIConfig{Host: name, Dial: e.dialer(name, e.inv.DockerFor(h), sudo), Log: e.log,
		Timeouts: engine.Timeouts{Read: s.ReadTimeout, Change: s.ChangeTimeout, Transfer: s.TransferTimeout}})
	if err != nil {
		return nil, err
	}
	return &engine.Engine{Host: name, Cluster: e.inv.Cluster, API: a}, nil
}

// apiFor returns the host's Engine API client, one per host for the run
// so that its streams are reused across calls (and a host whose engine
// stopped answering is not waited for again). Its streams come from the
// pool, which redials a connection that died once per run.
func (e *runEnv) apiFor(name string, d cluster.DockerSettings, sudo bool, t engine.Timeouts) (*engine.API, error) {
	e.apiMu.Lock()
	defer e.apiMu.Unlock()
	if a, ok := e.apis[name]; ok {
		return a, nil
	}
	a, err := engine.NewAPI(engine.APIConfig{Host: name, Dial: e.dialer(name, d, sudo), DryRun: e.dryRun, Log: e.log, Timeouts: t})
	if err != nil {
		return nil, err
	}
	if e.apis == nil {
		e.apis = map[string]*engine.API{}
	}
	e.apis[name] = a
	return a, nil
}
