package engine_test

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
)

func emptyAPI(t *testing.T) *enginetest.API {
	t.Helper()
	f := enginetest.NewAPI(labInfo())
	t.Cleanup(func() { f.Close() })
	f.AddImage(image.Summary{ID: "sha256:web1", RepoTags: []string{"web:v1"}})
	return f
}

// writes returns the calls that are not reads.
func writes(f *enginetest.API) []string {
	var out []string
	for _, c := range f.Calls() {
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "HEAD ") {
			out = append(out, c)
		}
	}
	return out
}

// TestAPICreateAndRemove creates a replica through the Engine API and
// reads it back: every network is connected before the start, the
// environment (with a newline) and the exec-form healthcheck are in the
// request body as written.
func TestAPICreateAndRemove(t *testing.T) {
	f := emptyAPI(t)
	e := apiEngine(t, f.Dial, engine.APIConfig{})
	for _, n := range []string{"demo_front", "demo_back"} {
		if err := e.CreateNetwork(ctx, cluster.Network{Name: n}, "demo"); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.CreateNetwork(ctx, cluster.Network{Name: "demo_front"}, "demo"); err != nil {
		t.Errorf("creating an existing network: %v, want nil", err)
	}
	spec := webSpec()
	spec.Env["MULTI"] = "one\ntwo é"
	id := mustCreate(t, e, "demo_web.1.a", "web", "1", spec)

	got := writes(f)
	want := []string{
		"POST /networks/create", "POST /networks/create", "POST /networks/create",
		"POST /containers/create", "POST /networks/demo_back/connect", "POST /containers/" + id + "/start",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q\nwant  %q", got, want)
	}
	req := f.Created()[0]
	if !slices.Contains(req.Env, "MULTI=one\ntwo é") || !slices.Contains(req.Env, "PASSWORD=s3cr3t $(id) 'q'") {
		t.Errorf("env %q", req.Env)
	}
	if h := req.Healthcheck; h == nil || !reflect.DeepEqual(h.Test, []string{"CMD", "/app", "-check"}) || h.Interval != time.Second {
		t.Errorf("healthcheck %+v, want the exec form", req.Healthcheck)
	}
	if eps := req.NetworkingConfig.EndpointsConfig; len(eps) != 1 || eps["demo_front"] == nil {
		t.Errorf("create attaches %v, want only the first network", eps)
	}
	if *req.StopTimeout != 13 || req.HostConfig.RestartPolicy.Name != "always" {
		t.Errorf("stop timeout %d restart %q", *req.StopTimeout, req.HostConfig.RestartPolicy.Name)
	}

	obs, err := e.Observe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Replicas) != 1 {
		t.Fatalf("%d replicas", len(obs.Replicas))
	}
	r := obs.Replicas[0]
	if r.ID != id || r.State != "running" || r.SpecHash != spec.Hash() || r.Slot != "1" || r.ImageID != "sha256:web1" ||
		!reflect.DeepEqual(r.Ports, []string{"8080/tcp"}) {
		t.Errorf("replica %+v", r)
	}

	if err := e.Remove(ctx, id, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove(ctx, id, 0); err != nil {
		t.Errorf("removing a container that is gone: %v, want nil", err)
	}
	if obs, _ := e.Observe(ctx); len(obs.Replicas) != 0 {
		t.Errorf("%d replicas after Remove", len(obs.Replicas))
	}
	gone, err := e.RemoveStackResources(ctx, "demo", false)
	if err != nil || !reflect.DeepEqual(gone, []string{"network demo_front", "network demo_back"}) {
		t.Errorf("RemoveStackResources = %v, %v", gone, err)
	}
}

func TestAPIDryRunChangesNothing(t *testing.T) {
	f := emptyAPI(t)
	e := apiEngine(t, f.Dial, engine.APIConfig{DryRun: true})
	_, err := e.Create(ctx, engine.Container{Name: "demo_web.1.a", Labels: labels("web", "1", webSpec()), Spec: webSpec()})
	if !errors.Is(err, engine.ErrDryRun) {
		t.Errorf("Create under dry run: %v, want ErrDryRun", err)
	}
	if err := e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "demo"); !errors.Is(err, engine.ErrDryRun) {
		t.Errorf("CreateNetwork under dry run: %v", err)
	}
	if w := writes(f); len(w) != 0 {
		t.Errorf("the engine saw %q during a dry run", w)
	}
	if _, err := e.Observe(ctx); err != nil {
		t.Errorf("reads still work: %v", err)
	}
}

func TestAPILogsDemultiplexed(t *testing.T) {
	f := emptyAPI(t)
	e := apiEngine(t, f.Dial, engine.APIConfig{})
	id := mustCreate(t, e, "demo_web.1.a", "web", "1", &cluster.ContainerSpec{Image: "web:v1"})
	f.SetLogs("demo_web.1.a", "out 1\nout 2\n", "err 1\n")
	var stdout, stderr bytes.Buffer
	if err := e.Logs(ctx, id, engine.LogOptions{Tail: "all"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "out 1\nout 2\n" || stderr.String() != "err 1\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
