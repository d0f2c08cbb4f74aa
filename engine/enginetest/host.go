// Package enginetest is an in-memory docker host for tests: Host serves
// the Engine API at the HTTP level (DialCommand opens a stream to it, as
// `docker system dial-stdio` does over SSH), so drover's client, the
// official Go client, meets the engine's own paths, status codes and JSON
// shapes (docker's api/types). State changes happen at the API level: a
// container create records a container, a start runs it (with the
// behaviour configured for its image: crash, unhealthy, slow to become
// healthy), a delete removes it; published host ports conflict as they do
// on a real engine.
//
// It is a simulation for unit tests and benchmarks. It knows only the
// endpoints drover uses; anything else answers 501 "enginetest: ... is not
// simulated", so a new call engine starts making shows up as a test
// failure rather than a silent success. End-to-end tests on real hosts
// remain the proof.
package enginetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"

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
	// Logs and Stderr are what the logs endpoint streams on stdout and
	// stderr for containers of the image.
	Logs, Stderr string
}

// Facts are what GET /info reports.
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
	Image        string // reference as given to the create request
	ImageID      string
	Labels       map[string]string
	Env          []string // K=V, from the create request's body
	Entrypoint   string
	Cmd          []string
	State        string // created | running | restarting | exited
	Health       string // "", starting, healthy, unhealthy
	ExitCode     int
	RestartCount int
	Restart      string // restart policy as the CLI writes it: always, on-failure:3
	Created      time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	Ports        map[string][]PortBinding // "80/tcp" → bindings
	Networks     map[string][]string      // network → aliases
	Mounts       []string                 // "type=volume,source=S,target=T"
	// HasHealthcheck is set by a Healthcheck in the create request or an
	// image with one (ImageBehaviour.Health), unless the test is NONE.
	HasHealthcheck bool
	StopTimeout    string // Config.StopTimeout, in seconds
	// Limits as docker's HostConfig holds them (NanoCPUs, Memory,
	// PidsLimit), and whether the container is paused; change them with
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

// Mutation is one state-changing API call that succeeded.
type Mutation struct {
	Seq  int    // order across the whole Cluster (or the Host alone)
	Host string // host name
	// Args name the change in the docker CLI's words: create NAME,
	// start REF, stop [--time N] REF, kill REF, rm [--force] REF, network
	// create|connect|rm ..., volume create|rm NAME, pull REF, load.
	Args []string
	// Container is the name of the container the call acted on, when
	// there is one (resolved from an ID for stop and rm).
	Container string
}

// String renders the mutation as "HOST: ARGS".
func (m Mutation) String() string {
	return m.Host + ": " + strings.Join(m.Args, " ")
}

// DefaultAPIVersion is the API version a Host reports when its
// APIVersion is empty: Docker Engine 20.10, what the lab runs.
const DefaultAPIVersion = "1.41"

type failRule struct {
	pattern string
	code    int    // HTTP status
	stderr  string // the error message
}

// Host is one simulated docker host. The exported fields are knobs; set
// them before use or between calls (they are read under the host's lock
// by each request, so set them with Set... helpers while calls may be
// running).
type Host struct {
	Name  string
	Facts Facts
	// APIVersion is what /_ping reports; "" means DefaultAPIVersion.
	APIVersion string
	// Latency is added to every request (honouring its context).
	Latency time.Duration
	// Clock stamps created/started times and drives HealthAfter; nil =
	// time.Now.
	Clock *Clock
	// Registry is where a pull (POST /images/create) finds images; nil =
	// nothing can be pulled. A create of a missing image fails, as the
	// API's does.
	Registry *Registry

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
	// imageLabels are the labels of images that have some (by ID); an ID
	// here without a reference is an untagged image (a build's).
	imageLabels map[string]map[string]string
	builds      []BuildRequest
	behaviour   map[string]ImageBehaviour
	fail        []failRule
	platforms   map[string][3]string // image ID → os, arch, variant (default: the host's)
	created     []container.CreateRequest
	calls       int
	requests    []string   // "METHOD /path?query"
	streams     [][]string // argv of every stream opened
	mutations   []Mutation
	journal     *journal
	seq         int // container creation order

	once sync.Once
	srv  *http.Server
	ln   *pipeListener
	open map[net.Conn]bool // server ends of the streams
	subs []subscriber      // open events streams
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
	req          container.CreateRequest // as the client sent it
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

var _ http.Handler = (*Host)(nil)

// SetDown makes the host unreachable: the open streams break, as the SSH
// connection under them does, and every new one (and Cluster.Connect)
// fails with connection refused.
func (h *Host) SetDown(down bool) {
	h.mu.Lock()
	h.down = down
	var open []net.Conn
	if down {
		for c := range h.open {
			open = append(open, c)
		}
	}
	h.mu.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// Down reports whether the host is set down.
func (h *Host) Down() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.down }

// SetDaemonDown makes `docker system dial-stdio` fail as it does when the
// daemon is not running.
func (h *Host) SetDaemonDown(v bool) { h.mu.Lock(); h.daemonDown = v; h.mu.Unlock() }

// SetDaemonStuck makes every request hang like a stopped (SIGSTOP)
// dockerd: it is accepted and never answered, until the client gives up.
func (h *Host) SetDaemonStuck(v bool) { h.mu.Lock(); h.stuck = v; h.mu.Unlock() }

// SetNeedSudo makes plain `docker system dial-stdio` fail with docker's
// "permission denied" on the socket; `sudo -n docker ...` works.
func (h *Host) SetNeedSudo(v bool) { h.mu.Lock(); h.needSudo = v; h.mu.Unlock() }

// SetNoDocker makes the docker CLI missing: dial-stdio exits 127.
func (h *Host) SetNoDocker(v bool) { h.mu.Lock(); h.noDocker = v; h.mu.Unlock() }

// SetSudoNeedsPassword makes `sudo -n` refuse ("a password is required").
func (h *Host) SetSudoNeedsPassword(v bool) { h.mu.Lock(); h.sudoPass = v; h.mu.Unlock() }

// FailNext makes the next request whose "METHOD /path" (without the
// version prefix or query: "POST /containers/web.1/start") contains
// pattern fail with status 500 and an injected error message, as the
// engine answers a failure of its own. Rules queue up; each fires once.
func (h *Host) FailNext(pattern string) {
	h.FailNextWith(pattern, http.StatusInternalServerError, "enginetest: injected failure ("+pattern+")")
}

// FailNextWith is FailNext with a chosen HTTP status and message.
func (h *Host) FailNextWith(pattern string, code int, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = append(h.fail, failRule{pattern, code, message})
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

// SetImagePlatform sets the platform GET /images/{ref}/json reports for
// an image (by default the host's own).
func (h *Host) SetImagePlatform(ref, os, arch, variant string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.platforms == nil {
		h.platforms = map[string][3]string{}
	}
	h.platforms[ImageID(ref)] = [3]string{os, arch, variant}
}

// Created returns the body of every container create request so far
// (environment values included: they travel only there).
func (h *Host) Created() []container.CreateRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]container.CreateRequest(nil), h.created...)
}

// Calls is the number of API requests so far.
func (h *Host) Calls() int { h.mu.Lock(); defer h.mu.Unlock(); return h.calls }

// Requests returns every API request so far, in order, as
// "METHOD /path?query" without the version prefix. Bodies are not kept.
func (h *Host) Requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.requests...)
}

// Streams returns the argv of every stream opened (DialCommand) so far.
func (h *Host) Streams() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([][]string, len(h.streams))
	for i, c := range h.streams {
		out[i] = append([]string(nil), c...)
	}
	return out
}

// Mutations returns every state-changing call that succeeded on this
// host, in order, as "HOST: ARGS" (see Mutation).
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

// ResetCounters forgets the calls, requests, streams and mutations
// recorded so far.
func (h *Host) ResetCounters() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls, h.requests, h.streams, h.mutations = 0, nil, nil, nil
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

// dialError is what the transport returns for a host that refuses
// connections.
func (h *Host) dialError() error {
	return &ssh.DialError{Host: h.Name, Addr: h.Name + ":22", Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED),
	}}
}
