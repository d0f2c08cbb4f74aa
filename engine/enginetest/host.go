// Package enginetest is an in-memory docker host for tests: Host implements
// engine.Runner and answers the exact commands engine sends (docker argv,
// `sh -c` chains of them, and engine's observe, cleanup and load scripts)
// with the output real docker prints, so engine's own parsers run against
// it. State changes happen at the command level: a `docker create` records
// a container, `docker start` runs it (with the behaviour configured for
// its image), `docker rm` removes it.
//
// It is a simulation for unit tests and benchmarks. It knows only the
// commands and flags drover uses; anything else fails with exit status 127
// and "enginetest: ... not simulated" on stderr, so a new command engine
// starts sending shows up as a test failure rather than a silent success.
// End-to-end tests on real hosts remain the proof.
package enginetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/ssh"
)

// ImageBehaviour says what a started container of an image does.
type ImageBehaviour struct {
	// ExitImmediately: the process ends right after start, with ExitCode.
	// Under a restart policy that restarts it (always, unless-stopped,
	// on-failure with a non-zero code) the container is left "restarting"
	// with one restart counted, as docker shows a crash-looping container.
	ExitImmediately bool
	ExitCode        int
	// Health is the status the healthcheck settles on: "healthy",
	// "unhealthy" or "starting" (never settles). Setting it also means the
	// image has a HEALTHCHECK of its own. "" = "healthy" for containers
	// created with --health-cmd, no health for the others.
	Health string
	// HealthAfter is how long (on the host's clock) a started container
	// reports "starting" before Health.
	HealthAfter time.Duration
	// Logs is what `docker logs` prints for containers of the image.
	Logs string
}

// Facts are what `docker info` reports.
type Facts struct {
	ServerVersion string
	OSType        string
	Architecture  string // uname style: x86_64, aarch64
	NCPU          int
	MemTotal      int64
	Name          string // hostname
}

// PortBinding is one HostConfig.PortBindings entry.
type PortBinding struct {
	HostIP, HostPort string
}

// Container is a container of the fake host, as a test sees it.
type Container struct {
	ID, Name     string
	Image        string // reference as given to docker create
	ImageID      string
	Labels       map[string]string
	Env          []string // K=V, from --env-file
	Entrypoint   string
	Cmd          []string
	State        string // created | running | restarting | exited
	Health       string // "", starting, healthy, unhealthy
	ExitCode     int
	RestartCount int
	Restart      string // --restart
	Created      time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	Ports        map[string][]PortBinding // "80/tcp" → bindings
	Networks     map[string][]string      // network → aliases
	Mounts       []string                 // --mount values
	// HasHealthcheck is set by --health-cmd or an image with a healthcheck
	// (ImageBehaviour.Health), unless --no-healthcheck.
	HasHealthcheck bool
	StopTimeout    string // --stop-timeout
	// Limits as docker's HostConfig holds them (--cpus, --memory,
	// --pids-limit), and whether the container is paused; change them with
	// Host.Update to simulate `docker update` or `docker pause` by hand.
	NanoCPUs  int64
	Memory    int64
	PidsLimit int64
	Paused    bool
}

// Network is a docker network of the fake host.
type Network struct {
	ID, Name, Driver string
	Internal         bool
	Labels           map[string]string
}

// Volume is a docker volume of the fake host.
type Volume struct {
	Name, Driver string
	Options      map[string]string
	Labels       map[string]string
}

// Mutation is one state-changing docker command that succeeded.
type Mutation struct {
	Seq  int      // order across the whole Cluster (or the Host alone)
	Host string   // host name
	Args []string // docker arguments, without "docker" or "sudo -n docker"
	// Container is the name of the container the command acted on, when
	// there is one (resolved from an ID for stop and rm).
	Container string
}

// String renders the mutation as "HOST: docker ARGS".
func (m Mutation) String() string {
	return m.Host + ": docker " + strings.Join(m.Args, " ")
}

type failRule struct {
	pattern string
	code    int
	stderr  string
}

// Host is one simulated docker host. The exported fields are knobs; set
// them before use or between calls (they are read under the host's lock
// by Run, so set them with Set... helpers while commands may be running).
type Host struct {
	Name  string
	Facts Facts
	// Latency is added to every round trip (honouring ctx).
	Latency time.Duration
	// Clock stamps created/started times and drives HealthAfter; nil =
	// time.Now.
	Clock *Clock
	// Registry is where `docker pull` (and `docker create` of a missing
	// image) find images; nil = nothing can be pulled.
	Registry *Registry
	// BeforeRun, when set, is called at the start of every Run; an error
	// it returns is returned by Run without running anything. Tests use it
	// to cancel contexts or inject transport errors at a precise point.
	BeforeRun func(ctx context.Context, args []string) error

	mu         sync.Mutex
	down       bool
	daemonDown bool
	stuck      bool
	needSudo   bool
	noDocker   bool
	sudoPass   bool
	containers map[string]*ctr // by ID
	networks   map[string]*Network
	volumes    map[string]*Volume
	images     map[string]string // normalized ref → ID
	behaviour  map[string]ImageBehaviour
	fail       []failRule
	calls      int
	commands   [][]string
	mutations  []Mutation
	journal    *journal
	seq        int // container creation order
}

type ctr struct {
	Container
	seq       int
	behaviour ImageBehaviour
	// rev counts changes; the rendered inspect JSON is kept for the rev
	// and health it was rendered at, so that observing an unchanged host
	// costs the fake little (benchmarks measure drover, not the fake).
	rev          int
	cached       []byte
	cachedRev    int
	cachedHealth string
}

// NewHost returns an empty host: linux/x86_64, 4 CPUs, 8 GiB, docker 27.3.1,
// with the builtin networks bridge, host and none.
func NewHost(name string) *Host {
	h := &Host{
		Name: name,
		Facts: Facts{
			ServerVersion: "27.3.1", OSType: "linux", Architecture: "x86_64",
			NCPU: 4, MemTotal: 8 << 30, Name: name,
		},
		containers: map[string]*ctr{},
		networks:   map[string]*Network{},
		volumes:    map[string]*Volume{},
		images:     map[string]string{},
		behaviour:  map[string]ImageBehaviour{},
	}
	for _, n := range []string{"bridge", "host", "none"} {
		driver := n
		if n == "none" {
			driver = "null"
		}
		h.networks[n] = &Network{ID: h.newID("network/" + n), Name: n, Driver: driver, Labels: map[string]string{}}
	}
	return h
}

var _ engine.Runner = (*Host)(nil)

// SetDown makes every Run (and Cluster.Connect) fail like an unreachable
// host: connection refused.
func (h *Host) SetDown(down bool) { h.mu.Lock(); h.down = down; h.mu.Unlock() }

// Down reports whether the host is set down.
func (h *Host) Down() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.down }

// SetDaemonDown makes the docker CLI answer but not the daemon.
func (h *Host) SetDaemonDown(v bool) { h.mu.Lock(); h.daemonDown = v; h.mu.Unlock() }

// SetDaemonStuck makes every command hang like the docker CLI in front of
// a stopped (SIGSTOP) dockerd: until its ssh.Cmd.Timeout passes, when Run
// returns the transport's *ssh.CommandTimeoutError, or until ctx ends.
func (h *Host) SetDaemonStuck(v bool) { h.mu.Lock(); h.stuck = v; h.mu.Unlock() }

// SetNeedSudo makes plain `docker` fail with docker's "permission denied"
// on the socket; `sudo -n docker` works.
func (h *Host) SetNeedSudo(v bool) { h.mu.Lock(); h.needSudo = v; h.mu.Unlock() }

// SetNoDocker makes the docker CLI missing (exit 127).
func (h *Host) SetNoDocker(v bool) { h.mu.Lock(); h.noDocker = v; h.mu.Unlock() }

// SetSudoNeedsPassword makes `sudo -n` refuse ("a password is required").
func (h *Host) SetSudoNeedsPassword(v bool) { h.mu.Lock(); h.sudoPass = v; h.mu.Unlock() }

// FailNext makes the next docker invocation whose text ("docker ARGS...",
// without sudo, arguments joined by spaces) contains pattern fail with
// exit status 1 and a daemon error. Invocations inside scripts and chains
// count one by one. Rules queue up; each fires once.
func (h *Host) FailNext(pattern string) {
	h.FailNextWith(pattern, 1, "Error response from daemon: enginetest: injected failure ("+pattern+")")
}

// FailNextWith is FailNext with a chosen exit status and stderr.
func (h *Host) FailNextWith(pattern string, code int, stderr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = append(h.fail, failRule{pattern, code, stderr})
}

// SetBehaviour sets what started containers of an image do.
func (h *Host) SetBehaviour(ref string, b ImageBehaviour) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.behaviour[engine.NormalizeRef(ref)] = b
}

// AddImage makes an image present on the host and returns its ID (the
// same for a reference on every host: see ImageID).
func (h *Host) AddImage(ref string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	id := ImageID(ref)
	h.images[engine.NormalizeRef(ref)] = id
	return id
}

// RemoveImage removes an image reference from the host.
func (h *Host) RemoveImage(ref string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.images, engine.NormalizeRef(ref))
}

// Images returns the host's images, normalized reference → ID.
func (h *Host) Images() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]string, len(h.images))
	for k, v := range h.images {
		out[k] = v
	}
	return out
}

// ImageID is the ID the fake gives an image reference: a digest of the
// normalized reference, so every host and the registry agree.
func ImageID(ref string) string {
	sum := sha256.Sum256([]byte("image/" + engine.NormalizeRef(ref)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Calls is the number of round trips (Run calls) so far.
func (h *Host) Calls() int { h.mu.Lock(); defer h.mu.Unlock(); return h.calls }

// Commands returns the argv of every Run so far, in order.
func (h *Host) Commands() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([][]string, len(h.commands))
	for i, c := range h.commands {
		out[i] = append([]string(nil), c...)
	}
	return out
}

// Mutations returns every state-changing docker command that succeeded on
// this host, in order, as "HOST: docker ARGS".
func (h *Host) Mutations() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, len(h.mutations))
	for i, m := range h.mutations {
		out[i] = m.String()
	}
	return out
}

// Log returns the host's mutations as records.
func (h *Host) Log() []Mutation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Mutation(nil), h.mutations...)
}

// ResetCounters forgets the calls, commands and mutations recorded so far.
func (h *Host) ResetCounters() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls, h.commands, h.mutations = 0, nil, nil
}

// Containers returns the host's containers sorted by name, with health as
// of now.
func (h *Host) Containers() []Container {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	out := make([]Container, 0, len(h.containers))
	for _, c := range h.containers {
		out = append(out, c.snapshot(now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Container finds a container by name, ID or unique ID prefix.
func (h *Host) Container(ref string) (Container, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.lookup(ref)
	if c == nil {
		return Container{}, false
	}
	return c.snapshot(h.now()), true
}

// Update changes a container in place (found by name, ID or unique ID
// prefix), as someone running docker by hand would; it reports whether the
// container exists. The change is not recorded as a mutation.
func (h *Host) Update(ref string, change func(*Container)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.lookup(ref)
	if c == nil {
		return false
	}
	id := c.ID
	change(&c.Container)
	c.ID = id
	c.rev++
	return true
}

// Networks returns the names of the host's networks, sorted.
func (h *Host) Networks() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return sortedNames(h.networks)
}

// Network returns a network by name.
func (h *Host) Network(name string) (Network, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, ok := h.networks[name]
	if !ok {
		return Network{}, false
	}
	return *n, true
}

// Volumes returns the names of the host's volumes, sorted.
func (h *Host) Volumes() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return sortedNames(h.volumes)
}

// Volume returns a volume by name.
func (h *Host) Volume(name string) (Volume, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.volumes[name]
	if !ok {
		return Volume{}, false
	}
	return *v, true
}

// Snapshot renders the host's whole state deterministically, for "nothing
// changed" comparisons.
func (h *Host) Snapshot() string {
	var b strings.Builder
	for _, c := range h.Containers() {
		fmt.Fprintf(&b, "container %s %s %s %s restarts=%d exit=%d labels=%v\n", c.Name, c.ID[:12], c.Image, c.State, c.RestartCount, c.ExitCode, c.Labels)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range sortedNames(h.networks) {
		fmt.Fprintf(&b, "network %s %v\n", n, h.networks[n].Labels)
	}
	for _, n := range sortedNames(h.volumes) {
		fmt.Fprintf(&b, "volume %s %v\n", n, h.volumes[n].Labels)
	}
	for _, n := range sortedNames(h.images) {
		fmt.Fprintf(&b, "image %s %s\n", n, h.images[n])
	}
	return b.String()
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (h *Host) now() time.Time {
	if h.Clock != nil {
		return h.Clock.Now()
	}
	return time.Now()
}

func (h *Host) newID(seed string) string {
	h.seq++
	sum := sha256.Sum256([]byte(h.Name + "/" + seed + "/" + strconv.Itoa(h.seq)))
	return hex.EncodeToString(sum[:])
}

// lookup finds a container by exact name, exact ID or unique ID prefix.
func (h *Host) lookup(ref string) *ctr {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil
	}
	if c, ok := h.containers[ref]; ok {
		return c
	}
	for _, c := range h.containers {
		if c.Name == ref {
			return c
		}
	}
	var found *ctr
	for id, c := range h.containers {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil // ambiguous
			}
			found = c
		}
	}
	return found
}

// snapshot copies the container with its state as of now.
func (c *ctr) snapshot(now time.Time) Container {
	out := c.Container
	out.Labels = copyMap(c.Labels)
	out.Env = append([]string(nil), c.Env...)
	out.Cmd = append([]string(nil), c.Cmd...)
	out.Mounts = append([]string(nil), c.Mounts...)
	out.Ports = map[string][]PortBinding{}
	for k, v := range c.Ports {
		out.Ports[k] = append([]PortBinding(nil), v...)
	}
	out.Networks = map[string][]string{}
	for k, v := range c.Networks {
		out.Networks[k] = append([]string(nil), v...)
	}
	out.Health = c.health(now)
	return out
}

// health is the healthcheck status as of now.
func (c *ctr) health(now time.Time) string {
	if !c.HasHealthcheck || c.StartedAt.IsZero() {
		return ""
	}
	if now.Sub(c.StartedAt) < c.behaviour.HealthAfter {
		return "starting"
	}
	if c.behaviour.Health != "" {
		return c.behaviour.Health
	}
	return "healthy"
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// exec is the I/O of one Run.
type exec struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (x *exec) errf(format string, a ...any) {
	fmt.Fprintf(x.stderr, format, a...)
	if !strings.HasSuffix(format, "\n") {
		io.WriteString(x.stderr, "\n")
	}
}

// Run implements engine.Runner.
func (h *Host) Run(ctx context.Context, cmd ssh.Cmd) (ssh.Result, error) {
	h.mu.Lock()
	h.calls++
	h.commands = append(h.commands, append([]string(nil), cmd.Args...))
	down, latency, hook, stuck := h.down, h.Latency, h.BeforeRun, h.stuck
	h.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, cmd.Args); err != nil {
			return ssh.Result{}, err
		}
	}
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return ssh.Result{}, ctx.Err()
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return ssh.Result{}, err
	}
	if down {
		return ssh.Result{}, h.dialError()
	}
	if stuck {
		return ssh.Result{}, h.hang(ctx, cmd)
	}
	if len(cmd.Args) == 0 {
		return ssh.Result{}, fmt.Errorf("%s: empty command", h.Name)
	}
	var stdout, stderr bytes.Buffer
	x := &exec{ctx: ctx, stdin: cmd.Stdin, stdout: &stdout, stderr: &stderr}
	if cmd.Stdout != nil {
		x.stdout = cmd.Stdout
	}
	var errHead bytes.Buffer // stderr is always captured for the ExitError
	x.stderr = &errHead
	if cmd.Stderr != nil {
		x.stderr = io.MultiWriter(cmd.Stderr, &errHead)
	}
	code := h.exec(x, cmd.Args)
	if ctx.Err() != nil {
		return ssh.Result{}, ctx.Err()
	}
	res := ssh.Result{}
	if cmd.Stdout == nil {
		res.Stdout = stdout.Bytes()
	}
	if cmd.Stderr == nil {
		res.Stderr = errHead.Bytes()
	}
	if code == 0 {
		return res, nil
	}
	msg := strings.TrimSpace(errHead.String())
	if len(msg) > 4<<10 {
		msg = msg[:4<<10] + "\n[...]"
	}
	return res, &ssh.ExitError{Host: h.Name, Args: append([]string(nil), cmd.Args[:min(2, len(cmd.Args))]...), Code: code, Stderr: msg}
}

// hang waits like a command that never finishes, and fails the way the
// transport does.
func (h *Host) hang(ctx context.Context, cmd ssh.Cmd) error {
	if cmd.Timeout <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTimer(cmd.Timeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return &ssh.CommandTimeoutError{Host: h.Name, Args: append([]string(nil), cmd.Args[:min(2, len(cmd.Args))]...), After: cmd.Timeout}
	}
}

// dialError is what the transport returns for a host that refuses
// connections.
func (h *Host) dialError() error {
	return &ssh.DialError{Host: h.Name, Addr: h.Name + ":22", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
}

// exec runs one argv as the login shell would and returns its exit status.
func (h *Host) exec(x *exec, argv []string) int {
	if argv[0] == "sh" && len(argv) >= 3 && argv[1] == "-c" {
		if len(argv) == 3 {
			return h.chain(x, argv[2])
		}
		switch argv[3] {
		case "drover-create", "drover-remove":
			return h.chain(x, argv[2])
		case "drover-observe":
			return h.observe(x, argv[2], argv[4:])
		case "drover-cleanup":
			return h.cleanup(x, argv[2], argv[4:])
		case "drover-load":
			return h.load(x, argv[2], argv[4:])
		}
		x.errf("enginetest: script %q not simulated", argv[3])
		return 127
	}
	return h.docker(x, argv)
}

// chain runs a `sh -c` line of quoted docker commands joined by &&, ||
// and ;, with the shell's semantics.
func (h *Host) chain(x *exec, line string) int {
	cmds, err := Split(line)
	if err != nil || len(cmds) == 0 {
		x.errf("enginetest: sh -c line not simulated (%v): %s", err, line)
		return 127
	}
	status := 0
	for i, c := range cmds {
		if i > 0 && (c.Op == "&&" && status != 0 || c.Op == "||" && status == 0) {
			continue
		}
		status = h.docker(x, c.Args)
	}
	return status
}
