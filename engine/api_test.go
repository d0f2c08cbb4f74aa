package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/rs/zerolog"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/ssh/sshtest"
)

// inspectFixture is `docker inspect` of a real Docker 20.10 engine: drover
// replicas (healthy, without healthcheck), a crashed one with a restart
// policy, limits and a published port, a created one, an unhealthy one.
const inspectFixture = "testdata/inspect-20.10.json"

func labInfo() system.Info {
	return system.Info{ServerVersion: "20.10.24", OSType: "linux", Architecture: "x86_64", NCPU: 2, MemTotal: 1 << 30, Name: "h1"}
}

// fakeAPI serves the fixture's containers and a few networks, volumes and
// images.
func fakeAPI(t *testing.T) (*enginetest.API, []byte) {
	t.Helper()
	data, err := os.ReadFile(inspectFixture)
	if err != nil {
		t.Fatal(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatal(err)
	}
	f := enginetest.NewAPI(labInfo())
	t.Cleanup(func() { f.Close() })
	for _, d := range docs {
		f.AddContainer(d)
	}
	f.AddContainer(json.RawMessage(`{"Id":"other","Name":"/other","Config":{"Labels":{"drover.cluster":"another"}},"State":{"Status":"running"}}`))
	for _, n := range []string{"demo_default", "bridge", "host", "none"} {
		f.AddNetwork(network.Summary{Name: n})
	}
	f.AddVolume(volume.Volume{Name: "demo_data"})
	f.AddVolume(volume.Volume{Name: "a_cache"})
	f.AddImage(image.Summary{ID: "sha256:aaa", RepoTags: []string{"drover-test/app:v1", "drover-test/app:latest"}})
	f.AddImage(image.Summary{ID: "sha256:bbb", RepoTags: []string{"<none>:<none>"}})
	return f, data
}

func apiEngine(t *testing.T, dial engine.Dialer, cfg engine.APIConfig) *engine.Engine {
	t.Helper()
	cfg.Host, cfg.Dial = "h1", dial
	a, err := engine.NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &engine.Engine{Host: "h1", Cluster: "lab", API: a}
}

// replicasGolden is how the CLI-based drover (its `docker inspect`
// parser, before the Engine API) saw the fixture's containers: written by
// it, kept as the reference. Rewrite it only with -update, knowingly.
const replicasGolden = "testdata/inspect-20.10.replicas.golden"

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestAPIObserveMatchesCLI reads the fixture's containers through the
// Engine API: a replica must look as the CLI-based drover saw it (the
// golden), or upgrading drover would see drift that is not there.
func TestAPIObserveMatchesCLI(t *testing.T) {
	f, _ := fakeAPI(t)
	e := apiEngine(t, f.Dial, engine.APIConfig{})
	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		b, _ := json.MarshalIndent(obs.Replicas, "", "  ")
		if err := os.WriteFile(replicasGolden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(replicasGolden)
	if err != nil {
		t.Fatal(err)
	}
	var want []cluster.Replica
	if err := json.Unmarshal(golden, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != 6 {
		t.Fatalf("fixture has %d containers, want 6", len(want))
	}
	if !reflect.DeepEqual(obs.Replicas, want) {
		for i := range want {
			if i < len(obs.Replicas) && !reflect.DeepEqual(obs.Replicas[i], want[i]) {
				t.Errorf("replica %d:\napi %+v\ncli %+v", i, obs.Replicas[i], want[i])
			}
		}
		t.Fatalf("api saw %d replicas, cli %d", len(obs.Replicas), len(want))
	}
	var unhealthy, limited bool
	for _, r := range want {
		unhealthy = unhealthy || (r.Health == "unhealthy" && !r.UnhealthySince.IsZero())
		limited = limited || (r.Runtime.RestartPolicy == "on-failure:3" && r.Runtime.PidsLimit == 50 && len(r.Ports) == 1)
	}
	if !unhealthy || !limited {
		t.Errorf("the fixture no longer exercises health logs (%v) or runtime settings (%v)", unhealthy, limited)
	}
	if got := obs.Facts; got != (engine.Facts{EngineVersion: "20.10.24", OS: "linux", Arch: "amd64", CPUs: 2, MemoryBytes: 1 << 30, Hostname: "h1"}) {
		t.Errorf("facts %+v", got)
	}
	if got := strings.Join(obs.Networks, ","); got != "bridge,demo_default,host,none" {
		t.Errorf("networks %s", got)
	}
	if got := strings.Join(obs.Volumes, ","); got != "a_cache,demo_data" {
		t.Errorf("volumes %s", got)
	}
	if !reflect.DeepEqual(obs.Images, map[string]string{"drover-test/app:v1": "sha256:aaa", "drover-test/app:latest": "sha256:aaa"}) {
		t.Errorf("images %v", obs.Images)
	}

	got, err := e.Inspect(ctx, want[0].ID, want[2].Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], want[0]) || !reflect.DeepEqual(got[1], want[2]) {
		t.Errorf("Inspect = %+v", got)
	}
	if _, err := e.Inspect(ctx, "gone"); err == nil {
		t.Error("Inspect of a missing container: want an error")
	}
	if id, err := e.ImageID(ctx, "drover-test/app"); err != nil || id != "sha256:aaa" {
		t.Errorf("ImageID = %q, %v", id, err)
	}
	if id, err := e.ImageID(ctx, "missing:v1"); err != nil || id != "" {
		t.Errorf("ImageID of a missing image = %q, %v; want \"\", nil", id, err)
	}
}

func TestAPIEngineTooOld(t *testing.T) {
	f, _ := fakeAPI(t)
	f.APIVersion = "1.40"
	e := apiEngine(t, f.Dial, engine.APIConfig{})
	_, err := e.Observe(ctx)
	if !errors.Is(err, engine.ErrEngineTooOld) {
		t.Fatalf("want ErrEngineTooOld, got %v", err)
	}
	if r := engine.Reason(err); !strings.Contains(r, "1.40") || !strings.Contains(r, "1.41") {
		t.Errorf("reason %q should name both versions", r)
	}
	for _, c := range f.Calls() {
		if c != "HEAD /_ping" {
			t.Errorf("an engine too old got %q", c)
		}
	}
}

// TestAPIAuditLine checks the debug line of each call: host, method, path,
// status, and nothing of the bodies (the fixture's environment values).
func TestAPIAuditLine(t *testing.T) {
	f, _ := fakeAPI(t)
	var buf bytes.Buffer
	e := apiEngine(t, f.Dial, engine.APIConfig{Log: zerolog.New(&buf).Level(zerolog.DebugLevel)})
	if _, err := e.Observe(ctx); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(f.Calls()) {
		t.Errorf("%d log lines for %d calls", len(lines), len(f.Calls()))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["host"] != "h1" || m["method"] == nil || m["path"] == nil || m["status"] == nil || m["took"] == nil {
			t.Errorf("log line %s", l)
		}
	}
	if strings.Contains(buf.String(), "TRICKY") || strings.Contains(buf.String(), "COLOR") {
		t.Error("a log line holds a body")
	}
}

// TestAPIOverSSHStream runs the client over `docker system dial-stdio` in
// a real SSH session (the in-process server runs the fake engine on the
// session's streams), and checks that a host without docker is reported
// as such.
func TestAPIOverSSHStream(t *testing.T) {
	f, _ := fakeAPI(t)
	var cmds []string
	srv := sshtest.NewServer(t, nil, sshtest.WithContextHandler(func(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
		cmds = append(cmds, cmd)
		if strings.HasPrefix(cmd, "sudo") {
			io.WriteString(stderr, "sudo: a password is required\n")
			return 1
		}
		if cmd != "docker system dial-stdio" {
			io.WriteString(stderr, "sh: 1: docker: not found\n")
			return 127
		}
		conn, err := f.Dial(ctx)
		if err != nil {
			return 1
		}
		defer conn.Close()
		go func() { io.Copy(conn, stdin); conn.Close() }()
		io.Copy(stdout, conn)
		return 0
	}))
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	os.WriteFile(known, []byte(srv.KnownHostsLine()+"\n"), 0o600)
	cl, err := ssh.Dial(ctx, ssh.Config{Name: "h1", Endpoint: ssh.Endpoint{User: "u", Host: srv.Host, Port: srv.Port},
		IdentityFiles: []string{sshtest.WriteKey(t, filepath.Join(dir, "id"), srv.ClientKey, nil)}, KnownHostsFile: known})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	dial := func(argv []string) engine.Dialer {
		return func(ctx context.Context) (net.Conn, error) { return cl.DialCommand(ctx, argv) }
	}

	e := apiEngine(t, dial(engine.DialStdioArgs(false)), engine.APIConfig{})
	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Replicas) != 6 {
		t.Errorf("%d replicas over ssh", len(obs.Replicas))
	}

	cases := []struct {
		argv   []string
		reason string
	}{
		{[]string{"/usr/local/bin/docker", "system", "dial-stdio"}, "docker not installed"},
		{engine.DialStdioArgs(true), "sudo needs a password"},
	}
	for _, c := range cases {
		e := apiEngine(t, dial(c.argv), engine.APIConfig{})
		_, err := e.Info(ctx)
		if !errors.Is(err, engine.ErrDockerDown) || !strings.Contains(engine.Reason(err), c.reason) {
			t.Errorf("%v: error %v (reason %q), want reason %q", c.argv, err, engine.Reason(err), c.reason)
		}
	}
}

// TestAPIStuckEngine: an engine that accepts calls and never answers (a
// stopped dockerd) fails its host within the read deadline, with the
// reason saying so, and later calls of the run fail at once.
func TestAPIStuckEngine(t *testing.T) {
	f, _ := fakeAPI(t)
	e := apiEngine(t, f.Dial, engine.APIConfig{Timeouts: engine.Timeouts{Read: 300 * time.Millisecond}})
	if _, err := e.Observe(ctx); err != nil { // negotiates the version
		t.Fatal(err)
	}
	f.Stuck.Store(true)
	start := time.Now()
	_, err := e.Observe(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("observe of a stuck engine took %s", took)
	}
	if !errors.Is(err, ssh.ErrTimeout) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if r := engine.Reason(err); !strings.Contains(r, "did not answer within") {
		t.Errorf("reason %q", r)
	}
	start = time.Now()
	if _, err := e.Info(ctx); err == nil || time.Since(start) > time.Second {
		t.Errorf("a later call waited %s: %v", time.Since(start), err)
	}
}
