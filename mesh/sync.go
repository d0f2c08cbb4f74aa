package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/imagexfer"
	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/mesh/proxy"
)

// Where the proxy lives on each host. Its directory is mounted (not the
// file) so that a file renamed over the old one is seen inside.
const (
	ContainerName = engine.ProxyName
	ConfigDir     = "/var/lib/drover/mesh"
	ConfigFile    = ConfigDir + "/config.json"
	StatusFile    = ConfigDir + "/status.json"
	DockerSocket  = "/var/run/docker.sock"
)

// Labels of the proxy container and image. The proxy carries no
// drover.cluster label: it is no replica, and no plan ever touches it.
const (
	LabelProxy   = "drover.proxy"
	LabelCluster = "drover.proxy.cluster"
	LabelVersion = "drover.proxy.version"
)

// DefaultDrain is how long a replica stays running at most, once its
// proxies were told, before it is stopped: drover stops it as soon as
// every proxy's status says it no longer routes to it (they apply a
// written file at once; the poll is 250ms); established connections go on
// through the stop's grace period.
const DefaultDrain = time.Second

// Host is what Sync needs of one host's engine (*engine.Engine).
type Host interface {
	imagexfer.Host
	InspectNamed(ctx context.Context, name string) (engine.ProxyContainer, bool, error)
	RunProxy(ctx context.Context, s engine.ProxySpec) (string, error)
	StartContainer(ctx context.Context, id string) error
	Remove(ctx context.Context, id string, grace time.Duration) error
	// The proxy's files are read and written through the proxy container
	// (its mounted directory): docker's access is all drover needs.
	ReadContainerFile(ctx context.Context, container, path string) ([]byte, error)
	WriteContainerFile(ctx context.Context, container, path string, data []byte, mode os.FileMode) error
}

var _ Host = (*engine.Engine)(nil)

// ForeignProxyError: the host runs another cluster's proxy. One host
// serves one cluster's routing mesh.
type ForeignProxyError struct {
	Host, Cluster string
}

func (e *ForeignProxyError) Error() string {
	return fmt.Sprintf("%s runs the routing mesh proxy of cluster %q (container %s): one host serves one cluster's mesh", e.Host, e.Cluster, ContainerName)
}

// Target is one ready host.
type Target struct {
	Name   string
	Engine func(ctx context.Context) (Host, error)
	// Observed says Proxy is what the run's observation saw of the
	// host's proxy container (nil: none), so that Sync does not inspect
	// it again; without it, Sync inspects it by name.
	Observed bool
	Proxy    *engine.ProxyContainer
}

// proxyOf is the host's proxy container: from the observation, or
// inspected by name.
func (t Target) proxyOf(ctx context.Context, h Host) (engine.ProxyContainer, bool, error) {
	if t.Observed {
		if t.Proxy == nil {
			return engine.ProxyContainer{}, false, nil
		}
		return *t.Proxy, true, nil
	}
	return h.InspectNamed(ctx, ContainerName)
}

// Action says what Sync did on a host.
type Action string

const (
	Created   Action = "proxy created"
	Replaced  Action = "proxy replaced" // another version
	Started   Action = "proxy started"  // it was stopped
	Reloaded  Action = "config written"
	UpToDate  Action = "up to date"
	Removed   Action = "proxy removed"
	NoProxy   Action = "no proxy"
	SyncError Action = "failed"
)

// HostResult is one host's outcome.
type HostResult struct {
	Host    string        `json:"host"`
	Actions []Action      `json:"actions"`
	Routes  int           `json:"routes"`
	Took    time.Duration `json:"took"`
	Error   string        `json:"error,omitempty"`
}

// SyncOptions tune Sync.
type SyncOptions struct {
	Cluster string
	// Images are the proxy images expected, by host: each host's is made
	// of the drover binary of its platform (Binaries.Image). A host that
	// needs a proxy and has none here fails, untouched.
	Images   map[string]ImageRef
	Parallel int
	// ConfigOnly writes the configurations and touches no container
	// (the drain before a replica stops: fast, the proxies exist).
	ConfigOnly bool
}

// Sync puts each target's configuration on it (configs[name]; nil: the
// host needs no proxy) and makes its proxy run the expected image: the
// image is loaded where missing, the container created, started or
// replaced, and removed where no route is left.
func Sync(ctx context.Context, targets []Target, configs map[string]*proxy.Config, opt SyncOptions) ([]HostResult, error) {
	par := max(opt.Parallel, 1)
	out := make([]HostResult, len(targets))
	errs := make([]error, len(targets))
	failed := func(i int, res HostResult, err error) {
		res.Actions = append(res.Actions, SyncError)
		res.Error = err.Error()
		errs[i] = fmt.Errorf("%s: routing mesh: %w", targets[i].Name, err)
		out[i] = res
	}
	notStarted := fanout.Each(ctx, par, targets, func(ctx context.Context, i int, t Target) error {
		began := time.Now()
		res := HostResult{Host: t.Name}
		err := syncHost(ctx, t, configs[t.Name], opt, &res)
		res.Took = time.Since(began)
		if err != nil {
			failed(i, res, err)
			return nil
		}
		out[i] = res
		return nil
	})
	for i, err := range notStarted {
		if err != nil {
			failed(i, HostResult{Host: targets[i].Name}, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, errors.Join(errs...)
}

func syncHost(ctx context.Context, t Target, cfg *proxy.Config, opt SyncOptions, res *HostResult) error {
	if cfg == nil && !opt.ConfigOnly {
		return removeProxy(ctx, t, opt, res)
	}
	img, ok := opt.Images[t.Name]
	if !ok && !opt.ConfigOnly {
		// Decided before the host is touched: never another platform's.
		return errors.New("no proxy image for the host's platform")
	}
	h, err := t.Engine(ctx)
	if err != nil {
		return err
	}
	pc, exists, err := t.proxyOf(ctx, h)
	if err != nil {
		return err
	}
	if exists && pc.Labels[LabelCluster] != opt.Cluster {
		return &ForeignProxyError{Host: t.Name, Cluster: pc.Labels[LabelCluster]}
	}
	if opt.ConfigOnly {
		// Draining or adding replicas mid-run: only proxies that run are
		// told; the run's final sync creates the missing ones. A host
		// whose last route goes keeps its proxy until then, listening on
		// nothing.
		if !exists || !pc.Running() {
			return nil
		}
		if cfg == nil {
			cfg = &proxy.Config{}
		}
		return writeConfig(ctx, h, cfg, res)
	}
	fresh := false
	switch {
	case exists && pc.Image == img.Name:
		if !pc.Running() {
			if err := h.StartContainer(ctx, pc.ID); err != nil {
				return err
			}
			res.Actions = append(res.Actions, Started)
			fresh = true
		}
	default:
		// The tag names the binary's digest: a host that has it has this
		// image, and building it (compressing drover) is skipped.
		if _, have, err := h.ImageFacts(ctx, img.Name); err != nil {
			return err
		} else if !have {
			im, err := img.Build()
			if err != nil {
				return err
			}
			if err := loadImage(ctx, t.Name, h, im); err != nil {
				return err
			}
		}
		action := Created
		if exists {
			// Another drover's proxy: replaced (its established
			// connections end; see docs/networking.md).
			if err := h.Remove(ctx, pc.ID, 5*time.Second); err != nil {
				return err
			}
			action = Replaced
		}
		_, err = h.RunProxy(ctx, engine.ProxySpec{
			Name:         ContainerName,
			Image:        img.Name,
			Labels:       map[string]string{LabelProxy: "true", LabelCluster: opt.Cluster, LabelVersion: cfg.Version},
			ConfigDir:    ConfigDir,
			DockerSocket: DockerSocket,
			// The proxy makes the services' addresses local itself
			// (NET_ADMIN; see docs/networking.md): no ip command over SSH.
			Cmd: []string{"--config", ConfigFile, "--status", StatusFile, "--docker-socket", DockerSocket, "--local-range", VIPRange},
		})
		if err != nil {
			return err
		}
		res.Actions = append(res.Actions, action)
		fresh = true
	}
	if fresh {
		// The old status would say it serves.
		h.WriteContainerFile(ctx, ContainerName, StatusFile, []byte("{}\n"), 0o600)
	}
	res.Routes = len(cfg.Routes)
	if err := writeConfig(ctx, h, cfg, res); err != nil {
		return err
	}
	if len(res.Actions) == 0 {
		res.Actions = append(res.Actions, UpToDate)
	}
	if fresh {
		if st := waitListening(ctx, h, cfg); st != nil && st.LocalRangeError != "" {
			// Discovery needs the route; ingress does not: a warning,
			// through the result's error, and the run goes on.
			res.Error = st.LocalRangeError + " (names of services do not resolve across hosts from here)"
		}
	}
	return nil
}

// writeConfig writes the configuration where it differs.
func writeConfig(ctx context.Context, h Host, cfg *proxy.Config, res *HostResult) error {
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	old, rerr := h.ReadContainerFile(ctx, ContainerName, ConfigFile)
	if rerr == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := h.WriteContainerFile(ctx, ContainerName, ConfigFile, b, 0o600); err != nil {
		return err
	}
	res.Actions = append(res.Actions, Reloaded)
	return nil
}

// waitListening waits (a few seconds at most) for a new proxy to report
// that it serves its configuration, its ports and its gates, so that a
// deploy that returns has its ports answering, and returns the last status read (nil: none). A proxy
// that is slow is not an error: it reports itself.
func waitListening(ctx context.Context, f Host, cfg *proxy.Config) *proxy.Status {
	// The gates too: a port that listens while the gates behind it are
	// still closed refuses every connection (all backends fail) until
	// they open, and the run would have returned.
	want := map[string]bool{}
	for _, r := range cfg.Routes {
		want[string(r.Protocol)+" "+r.Listen] = true
	}
	var last *proxy.Status
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if st, err := ReadStatus(ctx, f); err == nil {
			last = st
			if serves(st, want) {
				return st
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return last
}

func serves(st *proxy.Status, want map[string]bool) bool {
	open := 0
	for _, r := range st.Routes {
		if want[string(r.Protocol)+" "+r.Listen] && r.Open {
			open++
		}
	}
	return open == len(want)
}

// removeProxy removes the proxy and its files from a host with no route.
func removeProxy(ctx context.Context, t Target, opt SyncOptions, res *HostResult) error {
	h, err := t.Engine(ctx)
	if err != nil {
		return err
	}
	pc, exists, err := t.proxyOf(ctx, h)
	if errors.Is(err, engine.ErrNeedsAPI) || (err == nil && (!exists || pc.Labels[LabelCluster] != opt.Cluster)) {
		// None, or another cluster's: not ours to remove.
		res.Actions = append(res.Actions, NoProxy)
		return nil
	}
	if err != nil {
		return err
	}
	// Its files go with it: an empty configuration first (a proxy that
	// comes back by hand listens on nothing).
	if pc.Running() {
		h.WriteContainerFile(ctx, ContainerName, ConfigFile, []byte("{\"health\":{},\"routes\":[]}\n"), 0o600)
		h.WriteContainerFile(ctx, ContainerName, StatusFile, []byte("{}\n"), 0o600)
	}
	if err := h.Remove(ctx, pc.ID, 5*time.Second); err != nil {
		return err
	}
	res.Actions = append(res.Actions, Removed)
	return nil
}

// loadImage sends the proxy image when the host lacks it.
func loadImage(ctx context.Context, name string, h Host, im imagexfer.Image) error {
	a := &imagexfer.Archive{Path: "drover's proxy image", Images: []imagexfer.Image{im}}
	_, err := imagexfer.LoadArchive(ctx, a, []imagexfer.Target{{Name: name, Connect: func(context.Context) (imagexfer.Host, error) { return h, nil }}}, imagexfer.Options{})
	return err
}

// ReadStatus reads what a host's proxy last wrote about itself.
func ReadStatus(ctx context.Context, h Host) (*proxy.Status, error) {
	b, err := h.ReadContainerFile(ctx, ContainerName, StatusFile)
	if err != nil {
		return nil, err
	}
	var st proxy.Status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", StatusFile, err)
	}
	return &st, nil
}
