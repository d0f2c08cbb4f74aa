//go:build e2e

package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitPending is drover's exit code for a run that left replicas pending.
const exitPending = 3

type psRow struct {
	Name, Service, Slot, Node, State, Error string
}

func stackPs(t *testing.T, inv, stack string) []psRow {
	t.Helper()
	out := mustDrover(t, inv, "stack", "ps", "--output", "json", stack)
	var rows []psRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stack ps --output json: %v\n%s", err, out)
	}
	return rows
}

func pendingRows(rows []psRow) []psRow {
	var out []psRow
	for _, r := range rows {
		if r.State == "pending" {
			out = append(out, r)
		}
	}
	return out
}

// A host crash leaves a host-port replica with nowhere to go: one reconcile
// moves everything that can move, reports the rest pending with the pending
// exit code; when the host is back, the pending replica is placed, the
// surplus removed, and the run exits 0.
func TestPendingHostDown(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-pending")
	const stack = "e2epend"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "pending.yml"), stack)
	if n := len(running(stackContainers(t, stack))); n != 7 {
		t.Fatalf("%d running after deploy, want 7", n)
	}

	crashed := time.Now()
	labCmd(t, "stop", "h2")
	t.Cleanup(func() { labCmdErr(t, "start", "h2") })
	out, stderr, code, took := reconcile(t, inv)
	healed := time.Since(crashed)
	t.Logf("heal after host crash: %s from lab stop to the end of one reconcile (reconcile itself %s)", healed, took)
	if code != exitPending {
		t.Errorf("reconcile with h2 down: exit %d, want %d", code, exitPending)
	}
	want := "2 nodes have port 18088/tcp in use, 1 node is not ready"
	if !strings.Contains(stderr, "1 replica pending") || !strings.Contains(stderr, want) {
		t.Errorf("pending not reported on stderr (want %q):\n%s", want, stderr)
	}
	if !strings.Contains(out, "pending") || !strings.Contains(out, stack+"_web.") {
		t.Errorf("plan does not show the pending replica:\n%s", out)
	}
	// app moved: 3 running off h2; web has 2 (one per remaining host).
	var up []container
	for _, c := range stackContainers(t, stack) {
		if c.Host != "h2" && c.State == "running" {
			up = append(up, c)
		}
	}
	if got := perHost(up, stack+"_app"); got["h1"]+got["h3"] != 3 {
		t.Errorf("app not rescheduled off h2: %v", got)
	}
	if got := perHost(up, stack+"_web"); got["h1"] != 1 || got["h3"] != 1 {
		t.Errorf("web replicas: %v", got)
	}
	pend := pendingRows(stackPs(t, inv, stack))
	if len(pend) != 1 || pend[0].Service != stack+"_web" || pend[0].Error != want {
		t.Errorf("stack ps pending rows %+v, want one of %s_web with %q", pend, stack, want)
	}
	var svcs []struct {
		Name          string
		Pending       int    `json:"pending"`
		PendingReason string `json:"pending_reason"`
	}
	if err := json.Unmarshal([]byte(mustDrover(t, inv, "service", "ls", "--output", "json")), &svcs); err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if wantN := map[bool]int{true: 1}[s.Name == stack+"_web"]; s.Pending != wantN {
			t.Errorf("service ls: %s pending %d (%q), want %d", s.Name, s.Pending, s.PendingReason, wantN)
		}
	}
	// Every later run retries: still pending, still exit 3.
	if _, _, code, _ := reconcile(t, inv); code != exitPending {
		t.Errorf("second reconcile with h2 down: exit %d, want %d", code, exitPending)
	}

	labCmd(t, "start", "h2")
	waitFor(t, 60*time.Second, "h2's replicas running again", func() bool {
		return len(running(stackContainers(t, stack))) > 7
	})
	if _, _, code, _ := reconcile(t, inv); code != 0 {
		t.Errorf("reconcile with h2 back: exit %d, want 0", code)
	}
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_app"), 3)
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_web"), 3)
	out, _, code, _ = reconcile(t, inv, "--detailed-exitcode")
	if code != 0 || out != "" {
		t.Errorf("not converged after the host came back: exit %d\n%s", code, out)
	}
	if p := pendingRows(stackPs(t, inv, stack)); len(p) != 0 {
		t.Errorf("still pending: %+v", p)
	}
}

// Scaling a host-port service past the node count places what fits; a drain
// whose replica can go nowhere proceeds and leaves it pending.
func TestPendingScaleAndDrain(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-pending2")
	const stack = "e2epend2"
	cleanupStack(t, inv, stack)
	t.Cleanup(func() { runDrover(t, inv, "node", "update", "--availability", "active", "h3") })
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "pending.yml"), stack)

	_, stderr, code := runDrover(t, inv, "service", "scale", stack+"_web=5")
	if code != exitPending || !strings.Contains(stderr, "2 replicas pending") {
		t.Errorf("scale web=5: exit %d, want %d\n%s", code, exitPending, stderr)
	}
	if n := len(running(filterService(stackContainers(t, stack), stack+"_web"))); n != 3 {
		t.Errorf("%d web replicas running, want 3", n)
	}
	if p := pendingRows(stackPs(t, inv, stack)); len(p) != 2 {
		t.Errorf("pending rows %+v, want 2", p)
	}
	mustDrover(t, inv, "service", "scale", stack+"_web=3")

	// db runs only on h3 (storage=raid): draining h3 removes it, pending.
	_, stderr, code = runDrover(t, inv, "node", "update", "--availability", "drain", "h3")
	if code != exitPending {
		t.Errorf("drain h3: exit %d, want %d\n%s", code, exitPending, stderr)
	}
	for _, c := range running(stackContainers(t, stack)) {
		if c.Host == "h3" {
			t.Errorf("replica left on drained h3: %+v", c)
		}
	}
	want := "2 nodes fail node.labels.storage == raid, 1 node is drained"
	out := mustDrover(t, inv, "service", "ps", stack+"_db")
	if !strings.Contains(out, "pending") || !strings.Contains(out, want) {
		t.Errorf("service ps does not show db pending with %q:\n%s", want, out)
	}
	// app (no constraint) moved to h1/h2 with everything else.
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_app"), 3)

	mustDrover(t, inv, "node", "update", "--availability", "active", "h3")
	if n := len(running(filterService(stackContainers(t, stack), stack+"_db"))); n != 1 {
		t.Errorf("db not back after h3 is active: %d running", n)
	}

	// A constraint no inventoried node matches is refused before any change.
	f := filepath.Join(t.TempDir(), "bad.yml")
	b, _ := os.ReadFile(stackFile(t, "pending.yml"))
	os.WriteFile(f, []byte(strings.Replace(string(b), "storage == raid", "storage == ssd", 1)), 0o644)
	var refusedOut, refusedErr string
	muts := mutations(t, func() { refusedOut, refusedErr, code = runDrover(t, inv, "stack", "deploy", "-c", f, stack) })
	if code != 1 || !strings.Contains(refusedErr, "nothing was changed") || !strings.Contains(refusedErr, "3 nodes fail node.labels.storage == ssd") {
		t.Errorf("unsatisfiable deploy: exit %d\n%s%s", code, refusedOut, refusedErr)
	}
	if len(muts) != 0 {
		t.Errorf("unsatisfiable deploy changed the hosts: %v", muts)
	}
}

func filterService(cs []container, service string) []container {
	var out []container
	for _, c := range cs {
		if c.Service == service {
			out = append(out, c)
		}
	}
	return out
}

// A lost state file must not read as an empty cluster: reconcile removes
// nothing and says why; deploy --adopt takes the containers over as they are
// and leaves the other stacks alone.
func TestLostStateRemovesNothing(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-lost")
	const stack, other = "e2elost", "e2elost2"
	cleanupStack(t, inv, stack)
	cleanupStack(t, inv, other)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "three.yml"), other)
	before := stackContainers(t, stack)
	beforeOther := stackContainers(t, other)
	statePath := filepath.Join(filepath.Dir(inv), "drover.state.json")
	if err := os.Rename(statePath, statePath+".moved"); err != nil {
		t.Fatal(err)
	}

	var stderr string
	var code int
	muts := mutations(t, func() { _, stderr, code, _ = reconcile(t, inv) })
	if code != 1 || !strings.Contains(stderr, "no state found at") || !strings.Contains(stderr, "nothing was changed") ||
		!strings.Contains(stderr, "--adopt") {
		t.Errorf("reconcile without state: exit %d\n%s", code, stderr)
	}
	if len(muts) != 0 {
		t.Errorf("reconcile without state changed the hosts: %v", muts)
	}
	if _, err := os.Stat(statePath); err == nil {
		t.Errorf("a refused run wrote a state file")
	}
	// The same for a deploy and a scale.
	if _, _, code := runDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), stack); code != 1 {
		t.Errorf("deploy without state and without --adopt: exit %d", code)
	}

	// Adopt: the stack's containers are kept as they are.
	muts = mutations(t, func() { mustDrover(t, inv, "stack", "deploy", "--adopt", "-c", stackFile(t, "heal.yml"), stack) })
	if len(muts) != 0 {
		t.Errorf("adopting changed the hosts: %v", muts)
	}
	if got := stackContainers(t, stack); !sameIDs(got, before) {
		t.Errorf("adopt replaced containers:\nbefore %v\nafter  %v", before, got)
	}
	// The other stack is unclaimed: reconcile leaves it alone.
	_, stderr, code, _ = reconcile(t, inv)
	if code != 0 || !strings.Contains(stderr, "unclaimed") {
		t.Errorf("reconcile after adopt: exit %d\n%s", code, stderr)
	}
	if got := stackContainers(t, other); !sameIDs(got, beforeOther) {
		t.Errorf("reconcile touched the unclaimed stack:\nbefore %v\nafter  %v", beforeOther, got)
	}
	// Deploying it claims it, as it is.
	muts = mutations(t, func() { mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "three.yml"), other) })
	if len(muts) != 0 {
		t.Errorf("claiming changed the hosts: %v", muts)
	}
	out, _, code, _ := reconcile(t, inv, "--detailed-exitcode")
	if code != 0 || out != "" {
		t.Errorf("not converged after adopt and claim: exit %d\n%s", code, out)
	}
}

func sameIDs(a, b []container) bool {
	if len(a) != len(b) {
		return false
	}
	ids := map[string]bool{}
	for _, c := range a {
		ids[c.ID] = true
	}
	for _, c := range b {
		if !ids[c.ID] {
			return false
		}
	}
	return true
}

// A replica whose 1 s healthcheck keeps failing is replaced once it has
// been unhealthy for the grace, although docker's log holds only the last
// five checks.
func TestUnhealthyGraceShortInterval(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-unhealthy")
	const stack = "e2eunh"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "unhealthy.yml"), stack)
	cs := running(stackContainers(t, stack))
	if len(cs) != 1 {
		t.Fatalf("%d running, want 1", len(cs))
	}
	c := cs[0]
	waitFor(t, 30*time.Second, "replica healthy", func() bool {
		return hostDocker(t, c.Host, "inspect", "--format", "{{.State.Health.Status}}", c.ID) == "healthy"
	})
	marker := filepath.Join(t.TempDir(), "unhealthy")
	os.WriteFile(marker, []byte("x"), 0o644)
	hostDocker(t, c.Host, "cp", marker, c.ID+":/tmp/unhealthy")
	// Ten failures at a 1 s interval: twice the log docker keeps.
	waitFor(t, 60*time.Second, "a failing streak of 12", func() bool {
		n, _ := strconv.Atoi(hostDocker(t, c.Host, "inspect", "--format", "{{.State.Health.FailingStreak}}", c.ID))
		return n >= 12
	})
	// The listing says why: the last failed check's output.
	if ps := mustDrover(t, inv, "service", "ps", stack+"_hc"); !strings.Contains(ps, "unhealthy") || !strings.Contains(ps, "health check: ") {
		t.Errorf("service ps does not show the failing check's output:\n%s", ps)
	}
	out, _, code, _ := reconcile(t, inv, "--unhealthy-grace", "8s", "--detailed-exitcode")
	if code != 2 || !strings.Contains(out, "unhealthy for") {
		t.Errorf("reconcile --unhealthy-grace 8s: exit %d, want 2 with a replace\n%s", code, out)
	}
	if _, err := hostDockerErr(t, c.Host, "inspect", c.ID); err == nil {
		t.Errorf("unhealthy replica %s not replaced", c.ID)
	}
	cs = running(stackContainers(t, stack))
	if len(cs) != 1 || cs[0].ID == c.ID {
		t.Errorf("after reconcile: %v", cs)
	}
}

// Ctrl-C mid-rollout: the run stops, says which replicas are outdated or
// missing and that the next run continues; the next deploy finishes it.
func TestInterruptedRolloutReport(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-interrupt")
	const stack = "e2eint"
	cleanupStack(t, inv, stack)
	dir := t.TempDir()
	file := func(release string) string {
		p := filepath.Join(dir, release+".yml")
		os.WriteFile(p, []byte(`services:
  app:
    image: drover-test/app:nohc
    environment: {RELEASE: `+release+`}
    deploy:
      replicas: 6
      update_config: {parallelism: 1, monitor: 2s}
`), 0o644)
		return p
	}
	mustDrover(t, inv, "stack", "deploy", "-c", file("a"), stack)

	cmd := exec.Command(droverBin(t), "--inventory", inv, "stack", "deploy", "-c", file("b"), stack)
	cmd.Dir = filepath.Dir(inv)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second) // the first batch or two of six, 2 s each
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("interrupted deploy: %v, want exit 130\n%s", err, stderr.String())
	}
	if s := stderr.String(); !strings.Contains(s, "interrupted mid-rollout") || !strings.Contains(s, "outdated") ||
		!strings.Contains(s, "continues the rollout") {
		t.Errorf("no report of what is left:\n%s", s)
	}
	t.Logf("stderr of the interrupted run:\n%s", stderr.String())
	out, _, code := runDrover(t, inv, "stack", "deploy", "--detailed-exitcode", "-c", file("b"), stack)
	if code != 2 || !strings.Contains(out, "replace") {
		t.Errorf("the next deploy does not continue the rollout: exit %d\n%s", code, out)
	}
	slotsOK(t, stackContainers(t, stack), 6)
	if out, _, code := runDrover(t, inv, "stack", "deploy", "--detailed-exitcode", "-c", file("b"), stack); code != 0 {
		t.Errorf("not converged after the rollout was continued: exit %d\n%s", code, out)
	}
}

// plan --output json is one JSON document on stdout, pending replicas
// included, with exit 3 when some would be left pending.
func TestPlanJSON(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eplanjson"
	dir := t.TempDir()
	b, _ := os.ReadFile(stackFile(t, "pending.yml"))
	f := filepath.Join(dir, "five.yml")
	os.WriteFile(f, []byte(strings.Replace(string(b), "${WEB_REPLICAS:-3}", "5", 1)), 0o644)
	out, stderr, code := runDrover(t, inv, "plan", "--output", "json", "-c", f, stack)
	if code != exitPending {
		t.Errorf("plan of 5 host-port replicas on 3 hosts: exit %d, want %d\n%s", code, exitPending, stderr)
	}
	var res struct {
		Plan struct {
			Actions []struct{ Kind, Service, Slot, Host string }
			Pending []struct {
				Service string
				Slots   []string
				Reason  string
			}
		}
		Changes int
		Pending int
		Applied bool
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("plan --output json is not one JSON document: %v\n%s", err, out)
	}
	if len(res.Plan.Actions) != 7 || res.Changes != 10 || res.Pending != 2 || res.Applied || len(res.Plan.Pending) != 1 ||
		res.Plan.Pending[0].Service != stack+"_web" || len(res.Plan.Pending[0].Slots) != 2 {
		t.Errorf("plan JSON: %d actions, changes %d (7 creates + 3 networks), pending %d, applied %v, plan.pending %+v", len(res.Plan.Actions), res.Changes, res.Pending, res.Applied, res.Plan.Pending)
	}
	if cs := stackContainers(t, stack); len(cs) != 0 {
		t.Errorf("plan created containers: %v", cs)
	}
}
