package engine_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/internal/testimage"
)

// Engine against the fake engine's HTTP API: the requests drover makes,
// the official client on the engine's JSON shapes, error classification.

var ctx = context.Background()

// newEngine is host h1 of cluster "lab", its streams opened with sudo or
// not.
func newEngine(t testing.TB, sudo bool) (*engine.Engine, *enginetest.Host) {
	return newEngineWith(t, sudo, engine.Timeouts{})
}

func newEngineWith(t testing.TB, sudo bool, to engine.Timeouts) (*engine.Engine, *enginetest.Host) {
	c := enginetest.NewCluster(1)
	c.Name, c.Sudo, c.Timeouts = "lab", sudo, to
	t.Cleanup(func() { c.Close() })
	return c.Engine("h1"), c.Host("h1")
}

// other is an engine of the same host for another cluster.
func otherCluster(t testing.TB, h *enginetest.Host, sudo bool) *engine.Engine {
	argv := engine.DialStdioArgs(sudo)
	a, err := engine.NewAPI(engine.APIConfig{Host: h.Name, Dial: func(ctx context.Context) (net.Conn, error) { return h.DialCommand(ctx, argv) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &engine.Engine{Host: h.Name, Cluster: "other", API: a}
}

func webSpec() *cluster.ContainerSpec {
	grace := 12500 * time.Millisecond
	return &cluster.ContainerSpec{
		Image:           "web:v1",
		Env:             map[string]string{"PASSWORD": "s3cr3t $(id) 'q'", "MODE": "prod"},
		Ports:           []cluster.Port{{Target: 80, Published: 8080, Protocol: "tcp"}, {Target: 53, Protocol: "udp"}},
		Mounts:          []cluster.Mount{{Type: "volume", Source: "demo_data", Target: "/data"}},
		Networks:        []cluster.NetworkAttachment{{Name: "demo_front", Aliases: []string{"web"}}, {Name: "demo_back", Aliases: []string{"w2"}}},
		Healthcheck:     &cluster.Healthcheck{Test: []string{"CMD", "/app", "-check"}, Interval: time.Second},
		Restart:         "always",
		StopGracePeriod: &grace,
	}
}

func labels(service, slot string, spec *cluster.ContainerSpec) map[string]string {
	return map[string]string{
		cluster.LabelCluster: "lab", cluster.LabelStack: "demo", cluster.LabelService: "demo_" + service,
		cluster.LabelSlot: slot, cluster.LabelSpec: spec.Hash(), cluster.LabelGeneration: "3",
	}
}

func mustCreate(t *testing.T, e *engine.Engine, name, service, slot string, spec *cluster.ContainerSpec) string {
	t.Helper()
	id, err := e.Create(ctx, engine.Container{Name: name, Labels: labels(service, slot, spec), Spec: spec})
	if err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
	return id
}

func setupNetworks(t *testing.T, e *engine.Engine) {
	t.Helper()
	for _, n := range []string{"demo_front", "demo_back"} {
		if err := e.CreateNetwork(ctx, cluster.Network{Name: n}, "demo"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestObserveRoundTrip(t *testing.T) {
	for _, sudo := range []bool{false, true} {
		e, h := newEngine(t, sudo)
		h.SetNeedSudo(sudo) // with sudo on, plain docker would fail
		h.AddImage("web:v1")
		h.AddImage("docker.io/library/redis:7")
		setupNetworks(t, e)
		spec := webSpec()
		id := mustCreate(t, e, "demo_web.1.aaa", "web", "1", spec)
		other := &cluster.ContainerSpec{Image: "web:v1"}
		mustCreate(t, e, "demo_worker.2.bbb", "worker", "2", other)
		// A container of another cluster and one drover does not own.
		foreign := otherCluster(t, h, sudo)
		if _, err := foreign.Create(ctx, engine.Container{Name: "x", Labels: map[string]string{cluster.LabelCluster: "other"}, Spec: other}); err != nil {
			t.Fatal(err)
		}
		// The routing mesh's proxy (no drover.cluster label).
		proxyID, err := foreign.Create(ctx, engine.Container{Name: engine.ProxyName, Labels: map[string]string{"drover.proxy": "true"}, Spec: other})
		if err != nil {
			t.Fatal(err)
		}
		if err := foreign.StartContainer(ctx, proxyID); err != nil {
			t.Fatal(err)
		}

		h.ResetCounters()
		obs, err := e.Observe(ctx)
		if err != nil {
			t.Fatalf("sudo=%v: Observe: %v", sudo, err)
		}
		// One request per list, one inspect per container of the
		// cluster, on the stream already open: no new dial-stdio.
		var paths []string
		for _, r := range h.Requests() {
			p, _, _ := strings.Cut(r, "?")
			paths = append(paths, p)
		}
		wantPaths := []string{"GET /info", "GET /containers/json", "GET /containers/" + obs.Replicas[0].ID + "/json",
			"GET /containers/" + obs.Replicas[1].ID + "/json", "GET /networks", "GET /volumes", "GET /images/json"}
		sort.Strings(paths[2:4])
		sort.Strings(wantPaths[2:4])
		if !reflect.DeepEqual(paths, wantPaths) {
			t.Errorf("observe requests\n got %q\nwant %q", paths, wantPaths)
		}
		// The list is of every container (the proxy comes with it); only
		// the cluster's are inspected (the paths above).
		if list := h.Requests()[1]; !strings.Contains(list, "all=1") || strings.Contains(list, "filters") {
			t.Errorf("the list is not of every container: %s", list)
		}
		if obs.Proxy == nil || obs.Proxy.ID != proxyID || obs.Proxy.Labels["drover.proxy"] != "true" || !obs.Proxy.Running() {
			t.Errorf("proxy %+v, want %s running", obs.Proxy, proxyID)
		}
		if n := len(h.Streams()); n != 0 {
			t.Errorf("observe opened %d new streams", n)
		}
		if len(obs.Replicas) != 2 {
			t.Fatalf("replicas %+v", obs.Replicas)
		}
		r := obs.Replicas[0]
		want := cluster.Replica{
			ID: id, Name: "demo_web.1.aaa", Host: "h1", Stack: "demo", Service: "demo_web", Slot: "1",
			SpecHash: spec.Hash(), Generation: 3, Image: "web:v1", ImageID: enginetest.ImageID("web:v1"),
			State: cluster.StateRunning, Health: "healthy", Ports: []string{"8080/tcp"},
		}
		if r.Created.IsZero() || r.StartedAt.IsZero() || !r.FinishedAt.IsZero() {
			t.Errorf("times %v %v %v", r.Created, r.StartedAt, r.FinishedAt)
		}
		// Compare the fields this test knows (Replica grows).
		got := cluster.Replica{ID: r.ID, Name: r.Name, Host: r.Host, Stack: r.Stack, Service: r.Service, Slot: r.Slot,
			SpecHash: r.SpecHash, Generation: r.Generation, Image: r.Image, ImageID: r.ImageID, State: r.State,
			Health: r.Health, ExitCode: r.ExitCode, Restarts: r.Restarts, Ports: r.Ports}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("replica\n got %+v\nwant %+v", got, want)
		}
		if r.Runtime != (cluster.Runtime{RestartPolicy: "always"}) {
			t.Errorf("runtime %+v: the container runs as its spec says", r.Runtime)
		}
		if w := obs.Replicas[1]; w.Health != "" || w.Slot != "2" || len(w.Ports) != 0 {
			t.Errorf("worker %+v", w)
		}
		for _, n := range []string{"bridge", "host", "none", "demo_front", "demo_back"} {
			if !contains(obs.Networks, n) {
				t.Errorf("networks %q lack %s", obs.Networks, n)
			}
		}
		if !reflect.DeepEqual(obs.Volumes, []string{"demo_data"}) {
			t.Errorf("volumes %q", obs.Volumes)
		}
		if got, ok := obs.HasImage("redis:7"); !ok || got != enginetest.ImageID("redis:7") {
			t.Errorf("HasImage(redis:7) = %q %v; images %v", got, ok, obs.Images)
		}
		if _, ok := obs.HasImage("web"); ok {
			t.Errorf("web:latest is not there")
		}
	}
}

func TestObserveEmptyHost(t *testing.T) {
	e, _ := newEngine(t, false)
	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Replicas) != 0 || len(obs.Images) != 0 || len(obs.Networks) != 3 {
		t.Errorf("%+v", obs)
	}
}

func TestInfo(t *testing.T) {
	e, h := newEngine(t, false)
	h.Facts.Architecture, h.Facts.NCPU, h.Facts.MemTotal = "aarch64", 16, 32<<30
	f, err := e.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := engine.Facts{EngineVersion: "27.3.1", OS: "linux", Arch: "arm64", CPUs: 16, MemoryBytes: 32 << 30, Hostname: "h1", ID: "FAKE:h1"}
	if f != want {
		t.Errorf("facts %+v, want %+v", f, want)
	}
	if r := h.Requests(); r[len(r)-1] != "GET /info" {
		t.Errorf("info requests %q", r)
	}
	if s := h.Streams(); len(s) != 1 || !reflect.DeepEqual(s[0], []string{"docker", "system", "dial-stdio"}) {
		t.Errorf("streams %q", s)
	}
}

func TestCreateKeepsEnvInTheBody(t *testing.T) {
	for _, sudo := range []bool{false, true} {
		e, h := newEngine(t, sudo)
		var mu sync.Mutex
		var audited [][]string
		e.Audit = func(host string, argv []string, err error) {
			mu.Lock()
			defer mu.Unlock()
			audited = append(audited, argv)
		}
		h.AddImage("web:v1")
		setupNetworks(t, e)
		h.ResetCounters()
		audited = nil
		spec := webSpec()
		id := mustCreate(t, e, "demo_web.1.aaa", "web", "1", spec)

		var verbs []string
		for _, r := range h.Requests() {
			verbs = append(verbs, strings.ReplaceAll(r, id, "ID"))
		}
		// API 1.41 takes one network at create: the second is connected
		// before the start.
		if want := []string{"POST /containers/create?name=demo_web.1.aaa", "POST /networks/demo_back/connect", "POST /containers/ID/start"}; !reflect.DeepEqual(verbs, want) {
			t.Errorf("requests %q, want %q", verbs, want)
		}
		for _, a := range append(append(h.Requests(), flatten(h.Streams())...), flatten(audited)...) {
			if strings.Contains(a, "s3cr3t") || strings.Contains(a, "prod") {
				t.Errorf("an environment value is outside the request body: %q", a)
			}
		}
		if s := h.Streams(); len(s) != 0 {
			t.Errorf("create opened streams %q: the open one serves it", s)
		}
		c, ok := h.Container("demo_web.1.aaa")
		if !ok || c.ID != id || c.State != "running" {
			t.Fatalf("container %+v (id %q)", c, id)
		}
		sort.Strings(c.Env)
		if want := []string{"MODE=prod", "PASSWORD=s3cr3t $(id) 'q'"}; !reflect.DeepEqual(c.Env, want) {
			t.Errorf("env in the body %q, want %q", c.Env, want)
		}
		if !reflect.DeepEqual(c.Networks, map[string][]string{"demo_front": {"web"}, "demo_back": {"w2"}}) {
			t.Errorf("networks %v", c.Networks)
		}
		if c.StopTimeout != "13" || c.Restart != "always" || !c.HasHealthcheck {
			t.Errorf("settings %+v", c)
		}
		if len(audited) != 1 || !reflect.DeepEqual(audited[0], []string{"docker", "create+start", "demo_web.1.aaa"}) {
			t.Errorf("audit %q", audited)
		}
	}
}

func flatten(xs [][]string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestCreateFailureLeavesCreatedContainer(t *testing.T) {
	e, h := newEngine(t, false)
	h.AddImage("web:v1")
	setupNetworks(t, e)
	h.FailNext("/start")
	_, err := e.Create(ctx, engine.Container{Name: "demo_web.1.a", Labels: labels("web", "1", webSpec()), Spec: webSpec()})
	if err == nil {
		t.Fatal("start failure not reported")
	}
	if c, ok := h.Container("demo_web.1.a"); !ok || c.State != "created" {
		t.Errorf("the container stays created (the applier removes it): %+v", c)
	}
	// A second replica publishing the same port cannot start.
	h.FailNext("nothing matches this")
	spec := webSpec()
	mustCreate(t, e, "demo_web.2.b", "web", "2", spec)
	_, err = e.Create(ctx, engine.Container{Name: "demo_web.3.c", Labels: labels("web", "3", spec), Spec: spec})
	if err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Errorf("port clash: %v", err)
	}
}

func TestRemove(t *testing.T) {
	e, h := newEngine(t, true)
	h.AddImage("web:v1")
	spec := &cluster.ContainerSpec{Image: "web:v1"}
	id := mustCreate(t, e, "demo_web.1.a", "web", "1", spec)
	h.ResetCounters()
	if err := e.Remove(ctx, id, 12500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Container(id); ok {
		t.Fatal("still there")
	}
	// The grace period rounds up to whole seconds; the removal forces.
	want := []string{"POST /containers/" + id + "/stop?t=13", "DELETE /containers/" + id + "?force=1"}
	if got := h.Requests(); !reflect.DeepEqual(got, want) {
		t.Errorf("remove requests\n got %q\nwant %q", got, want)
	}
	if err := e.Remove(ctx, id, 0); err != nil {
		t.Errorf("removing a container that is gone: %v", err)
	}
	if m := h.Mutations(); len(m) != 2 {
		t.Errorf("mutations %q", m)
	}
}

func TestInspect(t *testing.T) {
	e, h := newEngine(t, false)
	h.AddImage("web:v1")
	h.SetBehaviour("web:v1", enginetest.ImageBehaviour{Health: "unhealthy"})
	spec := &cluster.ContainerSpec{Image: "web:v1"}
	a := mustCreate(t, e, "demo_web.1.a", "web", "1", spec)
	b := mustCreate(t, e, "demo_web.2.b", "web", "2", spec)
	reps, err := e.Inspect(ctx, b, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].ID != a || reps[1].Health != "unhealthy" || reps[0].Slot != "1" {
		t.Errorf("replicas %+v", reps)
	}
	if r := h.Requests(); !reflect.DeepEqual(r[len(r)-2:], []string{"GET /containers/" + b + "/json", "GET /containers/" + a + "/json"}) {
		t.Errorf("requests %q", r)
	}
	if _, err := e.Inspect(ctx, a, "gone"); err == nil {
		t.Error("inspect of a missing container succeeded")
	}
}

func TestErrorReasons(t *testing.T) {
	cases := []struct {
		name  string
		sudo  bool
		setup func(*enginetest.Host)
		want  string
	}{
		{"needs sudo", false, func(h *enginetest.Host) { h.SetNeedSudo(true) }, "docker: permission denied"},
		{"daemon down", false, func(h *enginetest.Host) { h.SetDaemonDown(true) }, "docker not running"},
		{"daemon down, sudo", true, func(h *enginetest.Host) { h.SetDaemonDown(true) }, "docker not running"},
		{"no docker", false, func(h *enginetest.Host) { h.SetNoDocker(true) }, "docker not installed"},
		{"no docker, sudo", true, func(h *enginetest.Host) { h.SetNoDocker(true) }, "docker not installed"},
		{"sudo password", true, func(h *enginetest.Host) { h.SetSudoNeedsPassword(true) }, "sudo needs a password"},
		{"host down", false, func(h *enginetest.Host) { h.SetDown(true) }, "connection refused"},
	}
	for _, c := range cases {
		for _, call := range []string{"Observe", "Inspect", "Info"} {
			e, h := newEngine(t, c.sudo)
			c.setup(h)
			var err error
			switch call {
			case "Observe":
				_, err = e.Observe(ctx)
			case "Inspect":
				_, err = e.Inspect(ctx, "abc")
			case "Info":
				_, err = e.Info(ctx)
			}
			if err == nil {
				t.Errorf("%s: %s succeeded", c.name, call)
				continue
			}
			if got := engine.Reason(err); !strings.HasPrefix(got, c.want) {
				t.Errorf("%s: %s: Reason %q, want %q (err: %v)", c.name, call, got, c.want, err)
			}
		}
	}
}

// A docker error that merely contains "not found" (a missing tag, a
// missing network) is not "docker not installed".
func TestNotFoundIsNotDockerMissing(t *testing.T) {
	e, h := newEngine(t, false)
	h.Registry = enginetest.NewRegistry("app:v1")
	err := e.Pull(ctx, "app:v9")
	if err == nil {
		t.Fatal("pull of a missing tag succeeded")
	}
	if r := engine.Reason(err); r == "docker not installed" {
		t.Errorf("pull of a missing tag: Reason %q; err: %v", r, err)
	}
	h.AddImage("web:v1")
	_, err = e.Create(ctx, engine.Container{Name: "x", Spec: &cluster.ContainerSpec{Image: "web:v1", Networks: []cluster.NetworkAttachment{{Name: "demo_gone"}}}})
	if err == nil {
		t.Fatal("create on a missing network succeeded")
	}
	if r := engine.Reason(err); r == "docker not installed" {
		t.Errorf("create on a missing network: Reason %q; err: %v", r, err)
	}
}

func TestResources(t *testing.T) {
	e, h := newEngine(t, false)
	n := cluster.Network{Name: "demo_front", Internal: true, Labels: map[string]string{"team": "x"}}
	for i := 0; i < 2; i++ {
		if err := e.CreateNetwork(ctx, n, "demo"); err != nil {
			t.Fatalf("CreateNetwork #%d: %v", i+1, err)
		}
	}
	got, _ := h.Network("demo_front")
	if !got.Internal || got.Driver != "bridge" || !reflect.DeepEqual(got.Labels, map[string]string{"team": "x", cluster.LabelCluster: "lab", cluster.LabelStack: "demo"}) {
		t.Errorf("network %+v", got)
	}
	if err := e.RemoveNetwork(ctx, "demo_front"); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveNetwork(ctx, "demo_front"); err != nil {
		t.Errorf("removing a missing network: %v", err)
	}
	v := cluster.Volume{Name: "demo_data", Driver: "local", DriverOpts: map[string]string{"type": "tmpfs"}}
	if err := e.CreateVolume(ctx, v, "demo"); err != nil {
		t.Fatal(err)
	}
	if gv, _ := h.Volume("demo_data"); gv.Options["type"] != "tmpfs" || gv.Labels[cluster.LabelStack] != "demo" {
		t.Errorf("volume %+v", gv)
	}
	if err := e.RemoveVolume(ctx, "demo_data"); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveVolume(ctx, "demo_data"); err != nil {
		t.Errorf("removing a missing volume: %v", err)
	}
}

func TestImages(t *testing.T) {
	e, h := newEngine(t, true)
	h.Registry = enginetest.NewRegistry("nginx:1.27")
	if id, err := e.ImageID(ctx, "nginx:1.27"); err != nil || id != "" {
		t.Errorf("absent image: %q %v", id, err)
	}
	if err := e.Pull(ctx, "docker.io/library/nginx:1.27"); err != nil {
		t.Fatal(err)
	}
	if id, err := e.ImageID(ctx, "nginx:1.27"); err != nil || id != enginetest.ImageID("nginx:1.27") {
		t.Errorf("pulled image: %q %v", id, err)
	}
	if err := e.Pull(ctx, "nope:1"); err == nil || !strings.Contains(err.Error(), "pull access denied") {
		t.Errorf("pull of an unknown image: %v", err)
	}

	var tarball, gz bytes.Buffer
	built, err := testimage.WriteArchive(&tarball, testimage.Image{Tags: []string{"app:v7"}, Files: []testimage.File{{Path: "/app", Mode: 0o755, Data: []byte("bin")}}})
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball.Bytes())
	zw.Close()
	out, err := e.Load(ctx, &gz)
	if err != nil || out != "Loaded image: app:v7" {
		t.Fatalf("Load: %q %v", out, err)
	}
	if id, _ := e.ImageID(ctx, "app:v7"); id != built[0].ID {
		t.Errorf("loaded image id %q, want %q", id, built[0].ID)
	}
	if _, err := e.Load(ctx, strings.NewReader("not gzip")); err == nil {
		t.Error("loading garbage succeeded")
	}
}

func TestLogs(t *testing.T) {
	e, h := newEngine(t, false)
	h.AddImage("web:v1")
	h.SetBehaviour("web:v1", enginetest.ImageBehaviour{Logs: "one\ntwo\nthree\n"})
	id := mustCreate(t, e, "demo_web.1.a", "web", "1", &cluster.ContainerSpec{Image: "web:v1"})
	var out, errb bytes.Buffer
	if err := e.Logs(ctx, id, engine.LogOptions{Tail: "2"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "two\nthree\n" {
		t.Errorf("logs %q", out.String())
	}
	// --follow of a running container ends with the context.
	fctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	out.Reset()
	err := e.Logs(fctx, id, engine.LogOptions{Follow: true}, &out, &errb)
	if !errors.Is(err, context.DeadlineExceeded) || out.String() != "one\ntwo\nthree\n" {
		t.Errorf("follow: %q %v", out.String(), err)
	}
}

// RemoveStackResources reports what it removed by name.
func TestRemoveStackResources(t *testing.T) {
	e, h := newEngine(t, false)
	h.AddImage("web:v1")
	for _, n := range []string{"demo_front", "demo_back"} {
		e.CreateNetwork(ctx, cluster.Network{Name: n}, "demo")
	}
	e.CreateNetwork(ctx, cluster.Network{Name: "other_net"}, "other")
	e.CreateVolume(ctx, cluster.Volume{Name: "demo_data"}, "demo")
	gone, err := e.RemoveStackResources(ctx, "demo", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Networks(); !reflect.DeepEqual(got, []string{"bridge", "host", "none", "other_net"}) {
		t.Errorf("networks left %q", got)
	}
	if got := h.Volumes(); len(got) != 0 {
		t.Errorf("volumes left %q", got)
	}
	sort.Strings(gone)
	if want := []string{"network demo_back", "network demo_front", "volume demo_data"}; !reflect.DeepEqual(gone, want) {
		t.Errorf("RemoveStackResources reported %q, want %q", gone, want)
	}

	// A network in use stays, and the run says so.
	e.CreateNetwork(ctx, cluster.Network{Name: "demo_front"}, "demo")
	mustCreate(t, e, "demo_web.1.a", "web", "1", &cluster.ContainerSpec{Image: "web:v1", Networks: []cluster.NetworkAttachment{{Name: "demo_front"}}})
	if _, err := e.RemoveStackResources(ctx, "demo", false); err == nil {
		t.Error("removing a network in use succeeded")
	}
	if _, err := e.RemoveStackResources(ctx, "demo", false); !cerrdefs.IsPermissionDenied(err) || !strings.Contains(err.Error(), "active endpoints") {
		t.Errorf("error %v", err)
	}
}

// TestImagesFacts: each image's ID and platform as the engine reports
// them; one the host lacks is left out.
func TestImagesFacts(t *testing.T) {
	e, h := newEngine(t, false)
	h.AddImage("a:v1")
	h.AddImage("b:v1")
	h.SetImagePlatform("b:v1", "linux", "arm64", "v8")
	got, err := e.ImagesFacts(ctx, []string{"a:v1", "gone:v1", "b:v1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a:v1"].ID != enginetest.ImageID("a:v1") || got["a:v1"].Platform.String() != "linux/amd64" ||
		got["b:v1"].Platform.String() != "linux/arm64" {
		t.Errorf("facts %+v", got)
	}
}
