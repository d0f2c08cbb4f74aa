package enginetest

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// The fake through drover's own client: what it answers is what the tests
// of engine and reconcile rely on.

var ctx = context.Background()

func oneHost(t *testing.T) (*Cluster, *Host, *engine.Engine) {
	c := NewCluster(1)
	t.Cleanup(func() { c.Close() })
	return c, c.Host("h1"), c.Engine("h1")
}

func create(e *engine.Engine, name string, spec *cluster.ContainerSpec) (string, error) {
	return e.Create(ctx, engine.Container{Name: name, Labels: map[string]string{cluster.LabelCluster: "test"}, Spec: spec})
}

// An endpoint the fake does not know answers 501, so a new call drover
// starts making fails a test instead of passing silently.
func TestUnknownEndpointsAreNotSimulated(t *testing.T) {
	_, h, _ := oneHost(t)
	conn, err := h.DialCommand(ctx, engine.DialStdioArgs(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://docker/v1.41/swarm/init", nil)
	go req.Write(conn)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("status %d, want 501", resp.StatusCode)
	}
	if _, err := h.DialCommand(ctx, []string{"docker", "ps"}); err != nil {
		t.Fatal(err) // the dial works; the stream fails as the command does
	}
}

func TestFailNextAndDown(t *testing.T) {
	_, h, e := oneHost(t)
	h.AddImage("web:v1")
	spec := &cluster.ContainerSpec{Image: "web:v1"}
	h.FailNext("/start")
	if _, err := create(e, "a", spec); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("injected start failure: %v", err)
	}
	if c, ok := h.Container("a"); !ok || c.State != "created" {
		t.Errorf("after the failed start: %+v", c)
	}
	if _, err := create(e, "b", spec); err != nil {
		t.Fatalf("a rule fires once: %v", err)
	}
	if m := h.Mutations(); len(m) != 3 || m[0] != "h1: create a" || m[1] != "h1: create b" || !strings.HasPrefix(m[2], "h1: start ") {
		t.Errorf("mutations %q", m)
	}
	h.SetDown(true)
	_, err := e.Observe(ctx)
	if r := engine.Reason(err); r != "connection refused" {
		t.Errorf("down: Reason %q (%v)", r, err)
	}
	h.SetDown(false)
	if _, err := e.Observe(ctx); err != nil {
		t.Errorf("back up: %v", err)
	}
}

func TestPortConflictAndBehaviour(t *testing.T) {
	c, h, e := oneHost(t)
	c.Clock.Set(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	h.AddImage("web:v1")
	h.AddImage("crash:v1")
	h.AddImage("slow:v1")
	h.SetBehaviour("crash:v1", ImageBehaviour{ExitImmediately: true, ExitCode: 3})
	h.SetBehaviour("slow:v1", ImageBehaviour{Health: "healthy", HealthAfter: 10 * time.Second})
	pub := &cluster.ContainerSpec{Image: "web:v1", Ports: []cluster.Port{{Target: 80, Published: 8080, Protocol: "tcp"}}}
	if _, err := create(e, "p1", pub); err != nil {
		t.Fatal(err)
	}
	if _, err := create(e, "p2", pub); err == nil || !strings.Contains(err.Error(), "Bind for 0.0.0.0:8080 failed: port is already allocated") {
		t.Errorf("second publisher of 8080: %v", err)
	}
	if _, err := create(e, "crash-always", &cluster.ContainerSpec{Image: "crash:v1", Restart: "always"}); err != nil {
		t.Fatal(err)
	}
	if _, err := create(e, "crash-no", &cluster.ContainerSpec{Image: "crash:v1", Restart: "no"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := h.Container("crash-always"); c.State != "restarting" || c.RestartCount != 1 || c.ExitCode != 3 {
		t.Errorf("crash-looping: %+v", c)
	}
	if c, _ := h.Container("crash-no"); c.State != "exited" || c.ExitCode != 3 {
		t.Errorf("crashed: %+v", c)
	}
	id, err := create(e, "slow", &cluster.ContainerSpec{Image: "slow:v1"})
	if err != nil {
		t.Fatal(err)
	}
	health := func() string {
		rs, err := e.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0].Health
	}
	if got := health(); got != "starting" {
		t.Errorf("health before HealthAfter: %q", got)
	}
	c.Clock.Advance(10 * time.Second)
	if got := health(); got != "healthy" {
		t.Errorf("health after HealthAfter: %q", got)
	}
	// A healthcheck of NONE disables the image's own.
	id, err = create(e, "slow-none", &cluster.ContainerSpec{Image: "slow:v1", Healthcheck: &cluster.Healthcheck{Disable: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := health(); got != "" {
		t.Errorf("disabled healthcheck reports %q", got)
	}
}

// The API's create does not pull (the CLI's did): the image must be there.
func TestCreateNeedsTheImage(t *testing.T) {
	c, h, e := oneHost(t)
	c.Registry.Add("web:v1")
	if _, err := create(e, "a", &cluster.ContainerSpec{Image: "web:v1"}); err == nil || !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("create without the image: %v", err)
	}
	if err := e.Pull(ctx, "web:v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := create(e, "a", &cluster.ContainerSpec{Image: "web:v1"}); err != nil {
		t.Fatal(err)
	}
	if got := h.Images()["web:v1"]; got != ImageID("web:v1") {
		t.Errorf("pulled image %q", got)
	}
}

// Watch wakes on the events of the containers it follows, not on others'.
func TestWatchSeesContainerEvents(t *testing.T) {
	_, h, e := oneHost(t)
	h.AddImage("web:v1")
	spec := &cluster.ContainerSpec{Image: "web:v1"}
	a, err := create(e, "a", spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := create(e, "b", spec)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	ch := e.Watch(wctx, []string{a})
	// The stream is open once the fake has its subscriber.
	for i := 0; ; i++ {
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if i > 1000 {
			t.Fatal("the events stream did not open")
		}
		time.Sleep(time.Millisecond)
	}
	if err := e.Remove(ctx, b, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("woken by another container's events")
	case <-time.After(50 * time.Millisecond):
	}
	if err := e.Remove(ctx, a, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatal("the stream ended instead")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no wake-up for the followed container's stop")
	}
	cancel()
	for range ch { // closed once ctx ends
	}
}
