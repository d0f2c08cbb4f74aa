//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"
	"time"
)

func running(cs []container) []container {
	var out []container
	for _, c := range cs {
		if c.State == "running" {
			out = append(out, c)
		}
	}
	return out
}

// slotsOK checks n running replicas with n distinct slots.
func slotsOK(t *testing.T, cs []container, n int) {
	t.Helper()
	slots := map[string]int{}
	for _, c := range running(cs) {
		slots[c.Slot]++
	}
	if len(running(cs)) != n || len(slots) != n {
		t.Errorf("%d running replicas in %d slots, want %d/%d: %v", len(running(cs)), len(slots), n, n, cs)
	}
}

func reconcile(t *testing.T, inv string, args ...string) (string, string, int, time.Duration) {
	t.Helper()
	start := time.Now()
	out, errOut, code := runDrover(t, inv, append([]string{"reconcile"}, args...)...)
	return out, errOut, code, time.Since(start)
}

// ownCluster gives the test's inventory a cluster name of its own: a
// reconcile of every stack removes drover containers of the cluster that its
// state does not know, and the other tests' stacks share the lab.
func ownCluster(t *testing.T, name string) string {
	t.Helper()
	inv := copyInventory(t)
	b, _ := os.ReadFile(inv)
	s := clusterLine.ReplaceAllString(string(b), "cluster: "+name)
	os.WriteFile(inv, []byte(s), 0o644)
	return inv
}

func TestReconcileHeals(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-heal")
	const stack = "e2eheal"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), stack)
	slotsOK(t, stackContainers(t, stack), 6)

	// Converged: nothing on stdout, exit 0, even with --detailed-exitcode.
	out, _, code, took := reconcile(t, inv, "--detailed-exitcode")
	t.Logf("no-op reconcile: %s", took)
	if code != 0 || out != "" {
		t.Errorf("converged reconcile: exit %d, stdout %q", code, out)
	}

	// A removed replica comes back.
	victim := stackContainers(t, stack)[0]
	hostDocker(t, victim.Host, "rm", "-f", victim.ID)
	out, _, code, _ = reconcile(t, inv, "--detailed-exitcode")
	if code != 2 || !strings.Contains(out, "1 created") {
		t.Errorf("reconcile after docker rm -f: exit %d\n%s", code, out)
	}
	slotsOK(t, stackContainers(t, stack), 6)

	// An orphan with drover's labels goes; a container without them stays.
	hostDocker(t, "h1", "run", "-d", "--name", "e2eheal-orphan", "--label", "drover.cluster=lab-heal", "--label", "drover.stack="+stack,
		"--label", "drover.service="+stack+"_ghost", "--label", "drover.slot=1", "drover-test/app:nohc")
	hostDocker(t, "h1", "run", "-d", "--name", "e2eheal-bystander", "drover-test/app:nohc")
	t.Cleanup(func() { hostDockerErr(t, "h1", "rm", "-f", "e2eheal-bystander", "e2eheal-orphan") })
	out, _, _, _ = reconcile(t, inv)
	if _, err := hostDockerErr(t, "h1", "inspect", "e2eheal-orphan"); err == nil {
		t.Errorf("orphan with drover labels not removed:\n%s", out)
	}
	if st := hostDocker(t, "h1", "inspect", "--format", "{{.State.Status}}", "e2eheal-bystander"); st != "running" {
		t.Errorf("container without drover labels was touched: %s", st)
	}

	// Drift: a replica changed by hand is reported, and replaced with --fix-drift.
	c := running(stackContainers(t, stack))[0]
	hostDocker(t, c.Host, "update", "--memory", "64m", "--memory-swap", "64m", c.ID)
	_, stderr, _, _ := reconcile(t, inv)
	if !strings.Contains(stderr, "drifted") || !strings.Contains(stderr, "memory limit") {
		t.Errorf("drift not reported:\n%s", stderr)
	}
	if _, err := hostDockerErr(t, c.Host, "inspect", c.ID); err != nil {
		t.Errorf("drifted replica replaced without --fix-drift")
	}
	reconcile(t, inv, "--fix-drift")
	if _, err := hostDockerErr(t, c.Host, "inspect", c.ID); err == nil {
		t.Errorf("drifted replica not replaced with --fix-drift")
	}
	slotsOK(t, stackContainers(t, stack), 6)

	// A host goes down: its replicas move to the others in one run, which
	// waits no longer than the connect timeout for it.
	labCmd(t, "stop", "h2")
	t.Cleanup(func() { labCmd(t, "start", "h2") })
	_, _, code, took = reconcile(t, inv)
	t.Logf("reconcile with h2 down: %s", took)
	if code != 0 {
		t.Errorf("reconcile with a host down: exit %d", code)
	}
	var up []container
	for _, c := range stackContainers(t, stack) {
		if c.Host != "h2" {
			up = append(up, c)
		}
	}
	slotsOK(t, up, 6)
	// It comes back with its old replicas (restart policy): the surplus goes.
	labCmd(t, "start", "h2")
	waitFor(t, 60*time.Second, "h2's replicas running again", func() bool {
		return len(running(stackContainers(t, stack))) > 6
	})
	reconcile(t, inv)
	slotsOK(t, stackContainers(t, stack), 6)
	out, _, code, _ = reconcile(t, inv, "--detailed-exitcode")
	if code != 0 || out != "" {
		t.Errorf("not converged after the host came back: exit %d\n%s", code, out)
	}
}

func TestNodeAvailability(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eavail"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), stack)
	t.Cleanup(func() {
		runDrover(t, inv, "node", "update", "--availability", "active", "h1")
		runDrover(t, inv, "node", "update", "--availability", "active", "h3")
	})

	mustDrover(t, inv, "node", "update", "--availability", "drain", "h1")
	cs := stackContainers(t, stack)
	slotsOK(t, cs, 6)
	for _, c := range cs {
		if c.Host == "h1" {
			t.Errorf("replica left on drained h1: %v", c)
		}
	}
	out := mustDrover(t, inv, "node", "ls")
	if !strings.Contains(out, "drain") {
		t.Errorf("node ls does not show availability:\n%s", out)
	}

	mustDrover(t, inv, "node", "update", "--availability", "active", "h1")
	mustDrover(t, inv, "node", "update", "--availability", "pause", "h3")
	before := perHost(stackContainers(t, stack), stack+"_app")["h3"]
	mustDrover(t, inv, "service", "scale", stack+"_app=9")
	after := stackContainers(t, stack)
	slotsOK(t, after, 9)
	if n := perHost(after, stack+"_app")["h3"]; n != before {
		t.Errorf("paused h3 got new replicas: %d → %d", before, n)
	}
}
