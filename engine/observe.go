package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/ssh"
)

// observeScript gathers everything a plan needs from one host in one round
// trip. It is a constant: the cluster name and the sudo switch arrive as
// positional parameters, so nothing is spliced into the shell text. The
// docker calls run side by side (each docker CLI start costs tens of
// milliseconds); their outputs are printed in a fixed order afterwards.
const observeScript = `set -u
cluster=$1; mode=$2; shift 2
d() { if [ "$mode" = sudo ]; then sudo -n docker "$@"; else docker "$@"; fi; }
if [ "${1:-full}" = info ]; then
  echo '##info'; d info --format '{{json .}}' || exit 3; exit 0
fi
t=$(mktemp -d 2>/dev/null || mktemp -d -t drover.XXXXXX) || exit 5
trap 'rm -rf "$t"' EXIT
run() { n=$1; shift; ( "$@" >"$t/$n" 2>"$t/$n.err"; echo $? >"$t/$n.rc" ) & }
containers() {
  ids=$(d ps -aq --no-trunc --filter "label=drover.cluster=$cluster") || return 1
  if [ -n "$ids" ]; then d inspect $ids; else echo '[]'; fi
}
run info d info --format '{{json .}}'
run containers containers
run networks d network ls --format '{{.Name}}'
run volumes d volume ls -q
run images d images --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}'
wait
rc=0
for n in info containers networks volumes images; do
  echo "##$n"; cat "$t/$n"
  if [ "$(cat "$t/$n.rc")" != 0 ]; then cat "$t/$n.err" >&2; rc=4; fi
done
exit $rc
`

func (e *Engine) mode() string {
	if e.Sudo {
		return "sudo"
	}
	return "plain"
}

func (e *Engine) infoCmd() ssh.Cmd {
	return ssh.Cmd{Args: []string{"sh", "-c", observeScript, "drover-observe", e.Cluster, e.mode(), "info"}}
}

// Observation is one host's docker state.
type Observation struct {
	Facts    Facts
	Replicas []cluster.Replica
	Networks []string
	Volumes  []string
	// Images maps image references ("repo:tag") to image IDs.
	Images map[string]string
}

// HasImage reports whether ref (as written in a compose file) is present.
func (o *Observation) HasImage(ref string) (id string, ok bool) {
	id, ok = o.Images[NormalizeRef(ref)]
	if !ok && strings.HasPrefix(ref, "sha256:") {
		for _, v := range o.Images {
			if v == ref {
				return v, true
			}
		}
	}
	return id, ok
}

// NormalizeRef writes an image reference as `docker images` lists it:
// docker.io/library/ and docker.io/ dropped, ":latest" added when no tag.
func NormalizeRef(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/library/")
	ref = strings.TrimPrefix(ref, "docker.io/")
	if strings.Contains(ref, "@") {
		return ref
	}
	slash := strings.LastIndexByte(ref, '/')
	if !strings.Contains(ref[slash+1:], ":") {
		ref += ":latest"
	}
	return ref
}

// Observe reads the host's drover containers, networks, volumes and images
// in one round trip.
func (e *Engine) Observe(ctx context.Context) (*Observation, error) {
	if e.API != nil {
		return e.API.observe(ctx, e.Cluster)
	}
	res, err := e.run(ctx, opRead, 0, ssh.Cmd{Args: []string{"sh", "-c", observeScript, "drover-observe", e.Cluster, e.mode(), "full"}})
	if err != nil {
		return nil, classify(err)
	}
	return parseObservation(e.Host, res.Stdout, string(res.Stderr))
}

func parseObservation(host string, out []byte, stderr string) (*Observation, error) {
	sections := map[string][]byte{}
	var cur string
	for _, line := range bytes.SplitAfter(out, []byte("\n")) {
		if t := bytes.TrimSpace(line); bytes.HasPrefix(t, []byte("##")) {
			cur = string(t[2:])
			continue
		}
		sections[cur] = append(sections[cur], line...)
	}
	facts, err := parseInfo(sections["info"], stderr)
	if err != nil {
		return nil, err
	}
	obs := &Observation{Facts: facts, Images: map[string]string{}}
	if obs.Replicas, err = ParseInspect(host, sections["containers"]); err != nil {
		return nil, err
	}
	obs.Networks = lines(sections["networks"])
	obs.Volumes = lines(sections["volumes"])
	for _, l := range lines(sections["images"]) {
		ref, id, ok := strings.Cut(l, " ")
		if ok && !strings.Contains(ref, "<none>") {
			obs.Images[ref] = id
		}
	}
	return obs, nil
}

func lines(b []byte) []string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// healthState is a container's State.Health as docker reports it.
type healthState struct {
	Status        string
	FailingStreak int
	Log           []healthCheck
}

// healthCheck is one entry of docker's health log (the last five checks).
type healthCheck struct {
	Start    time.Time
	ExitCode int
	Output   string
}

// inspected is the subset of `docker inspect` used.
type inspected struct {
	ID      string `json:"Id"`
	Name    string
	Created time.Time
	Image   string
	Config  struct {
		Image       string
		Labels      map[string]string
		Healthcheck *struct{ Interval time.Duration }
	}
	State struct {
		Status     string
		ExitCode   int
		StartedAt  time.Time
		FinishedAt time.Time
		Paused     bool
		Health     *healthState
	}
	RestartCount int
	HostConfig   struct {
		PortBindings  map[string][]struct{ HostIP, HostPort string }
		RestartPolicy struct {
			Name              string
			MaximumRetryCount int
		}
		NanoCpus  int64
		Memory    int64
		PidsLimit *int64
	}
}

// unhealthySince is the start of the current run of failed checks.
// Docker keeps only the last five checks in the log, so a run longer than
// that (a 1 s interval fails five checks in seconds) is extended back by
// FailingStreak, the count of consecutive failures docker keeps, spaced as
// the logged checks are (interval plus the check's own time), or by the
// configured interval when the log holds a single check.
func (c *inspected) unhealthySince() time.Time {
	h := c.State.Health
	if h == nil || h.Status != "unhealthy" {
		return time.Time{}
	}
	var since time.Time
	logged := 0
	for i := len(h.Log) - 1; i >= 0 && h.Log[i].ExitCode != 0; i-- {
		since = h.Log[i].Start
		logged++
	}
	if since.IsZero() || h.FailingStreak <= logged {
		return since
	}
	var spacing time.Duration
	if n := len(h.Log); n >= 2 {
		spacing = h.Log[n-1].Start.Sub(h.Log[0].Start) / time.Duration(n-1)
	}
	if spacing <= 0 && c.Config.Healthcheck != nil {
		spacing = c.Config.Healthcheck.Interval
	}
	if spacing <= 0 {
		spacing = 30 * time.Second // docker's default interval
	}
	since = since.Add(-time.Duration(h.FailingStreak-logged) * spacing)
	if started := c.State.StartedAt; !started.IsZero() && since.Before(started) {
		since = started
	}
	return since
}

// lastFailedCheck is the first line of what the newest failed health check
// printed (at most 200 bytes), or "" when the newest check passed.
func (c *inspected) lastFailedCheck() string {
	h := c.State.Health
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	last := h.Log[len(h.Log)-1]
	if last.ExitCode == 0 {
		return ""
	}
	out := strings.TrimSpace(last.Output)
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = strings.TrimSpace(out[:i])
	}
	if len(out) > 200 {
		out = out[:200] + "…"
	}
	if out == "" {
		out = fmt.Sprintf("health check exited %d", last.ExitCode)
	}
	return out
}

func (c *inspected) runtime() cluster.Runtime {
	rt := cluster.Runtime{RestartPolicy: c.HostConfig.RestartPolicy.Name, NanoCPUs: c.HostConfig.NanoCpus,
		MemoryBytes: c.HostConfig.Memory, Paused: c.State.Paused}
	if rt.RestartPolicy == "on-failure" && c.HostConfig.RestartPolicy.MaximumRetryCount > 0 {
		rt.RestartPolicy += ":" + strconv.Itoa(c.HostConfig.RestartPolicy.MaximumRetryCount)
	}
	if rt.RestartPolicy == "" {
		rt.RestartPolicy = "no"
	}
	if c.HostConfig.PidsLimit != nil && *c.HostConfig.PidsLimit > 0 {
		rt.PidsLimit = *c.HostConfig.PidsLimit
	}
	return rt
}

// ParseInspect parses `docker inspect` output into replicas.
func ParseInspect(host string, data []byte) ([]cluster.Replica, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, nil
	}
	var list []inspected
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("%s: cannot parse docker inspect: %w", host, err)
	}
	out := make([]cluster.Replica, 0, len(list))
	for i := range list {
		out = append(out, list[i].replica(host))
	}
	sortReplicas(out)
	return out, nil
}

func sortReplicas(rs []cluster.Replica) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Name < rs[j].Name })
}

// replica maps one inspected container onto drover's view of it.
func (c *inspected) replica(host string) cluster.Replica {
	l := c.Config.Labels
	gen, _ := strconv.Atoi(l[cluster.LabelGeneration])
	r := cluster.Replica{
		ID:         c.ID,
		Name:       strings.TrimPrefix(c.Name, "/"),
		Host:       host,
		Stack:      l[cluster.LabelStack],
		Service:    l[cluster.LabelService],
		Slot:       l[cluster.LabelSlot],
		SpecHash:   l[cluster.LabelSpec],
		Generation: gen,
		Image:      c.Config.Image,
		ImageID:    c.Image,
		State:      c.State.Status,
		ExitCode:   c.State.ExitCode,
		Restarts:   c.RestartCount,
		Created:    c.Created,
		StartedAt:  c.State.StartedAt,
		FinishedAt: c.State.FinishedAt,
	}
	if c.State.Health != nil {
		r.Health = c.State.Health.Status
	}
	r.UnhealthySince = c.unhealthySince()
	r.HealthOutput = c.lastFailedCheck()
	r.Runtime = c.runtime()
	for port, binds := range c.HostConfig.PortBindings {
		_, proto, _ := strings.Cut(port, "/")
		for _, b := range binds {
			if b.HostPort != "" {
				r.Ports = append(r.Ports, b.HostPort+"/"+proto)
			}
		}
	}
	sort.Strings(r.Ports)
	return r
}
