package engine_test

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/engine/enginetest"
)

// writes returns the requests that are not reads, without their query.
func writes(h *enginetest.Host) []string {
	var out []string
	for _, c := range h.Requests() {
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "HEAD ") {
			c, _, _ = strings.Cut(c, "?")
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
	e, h := newEngine(t, false)
	h.AddImage("web:v1")
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

	got := writes(h)
	want := []string{
		"POST /networks/create", "POST /networks/create", "POST /networks/create",
		"POST /containers/create", "POST /networks/demo_back/connect", "POST /containers/" + id + "/start",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("calls %q\nwant  %q", got, want)
	}
	req := h.Created()[0]
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
	if r.ID != id || r.State != "running" || r.SpecHash != spec.Hash() || r.Slot != "1" || r.ImageID != enginetest.ImageID("web:v1") ||
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
	sort.Strings(gone)
	if err != nil || !reflect.DeepEqual(gone, []string{"network demo_back", "network demo_front"}) {
		t.Errorf("RemoveStackResources = %v, %v", gone, err)
	}
}

func TestAPIDryRunChangesNothing(t *testing.T) {
	c := enginetest.NewCluster(1)
	c.DryRun = true
	t.Cleanup(func() { c.Close() })
	e, h := c.Engine("h1"), c.Host("h1")
	h.AddImage("web:v1")
	_, err := e.Create(ctx, engine.Container{Name: "demo_web.1.a", Labels: labels("web", "1", webSpec()), Spec: webSpec()})
	if !errors.Is(err, engine.ErrDryRun) {
		t.Errorf("Create under dry run: %v, want ErrDryRun", err)
	}
	if err := e.CreateNetwork(ctx, cluster.Network{Name: "n"}, "demo"); !errors.Is(err, engine.ErrDryRun) {
		t.Errorf("CreateNetwork under dry run: %v", err)
	}
	if w := writes(h); len(w) != 0 {
		t.Errorf("the engine saw %q during a dry run", w)
	}
	if _, err := e.Observe(ctx); err != nil {
		t.Errorf("reads still work: %v", err)
	}
}

func TestAPILogsDemultiplexed(t *testing.T) {
	e, h := newEngine(t, false)
	h.AddImage("web:v1")
	h.SetBehaviour("web:v1", enginetest.ImageBehaviour{Logs: "out 1\nout 2\n", Stderr: "err 1\n"})
	id := mustCreate(t, e, "demo_web.1.a", "web", "1", &cluster.ContainerSpec{Image: "web:v1"})
	var stdout, stderr bytes.Buffer
	if err := e.Logs(ctx, id, engine.LogOptions{Tail: "all"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "out 1\nout 2\n" || stderr.String() != "err 1\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}
