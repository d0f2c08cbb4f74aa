//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanApply: plan --out FILE then apply FILE, and the stale-plan guard.
func TestPlanApply(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eplan"
	cleanupStack(t, inv, stack)
	dir := filepath.Dir(inv)
	file := stackFile(t, "heal.yml")
	p1 := filepath.Join(dir, "p1.json")

	_, _, code := runDrover(t, inv, "plan", "--detailed-exitcode", "-c", file, "--out", p1, stack)
	if code != 2 {
		t.Fatalf("plan with changes: exit %d, want 2", code)
	}
	if n := len(stackContainers(t, stack)); n != 0 {
		t.Fatalf("plan changed the hosts: %d containers", n)
	}
	mustDrover(t, inv, "apply", p1)
	slotsOK(t, stackContainers(t, stack), 6)
	// The same plan again is stale: the state moved on.
	if _, stderr, code := runDrover(t, inv, "apply", p1); code != 1 || !strings.Contains(stderr, "stale plan") {
		t.Errorf("re-applying an applied plan: exit %d\n%s", code, stderr)
	}

	// A plan made before someone else's change is refused.
	p2 := filepath.Join(dir, "p2.json")
	scaled := filepath.Join(dir, "scaled.yml")
	b, _ := os.ReadFile(file)
	os.WriteFile(scaled, []byte(strings.Replace(string(b), "replicas: 6", "replicas: 3", 1)), 0o644)
	runDrover(t, inv, "plan", "-c", scaled, "--out", p2, stack)
	mustDrover(t, inv, "service", "scale", stack+"_app=4")
	_, stderr, code := runDrover(t, inv, "apply", p2)
	if code != 1 || !strings.Contains(stderr, "stale plan") || !strings.Contains(stderr, "serial") {
		t.Errorf("stale plan: exit %d\n%s", code, stderr)
	}
	slotsOK(t, stackContainers(t, stack), 4)

	// A compose file edited after planning is refused too.
	p3 := filepath.Join(dir, "p3.json")
	runDrover(t, inv, "plan", "-c", scaled, "--out", p3, stack)
	os.WriteFile(scaled, []byte(strings.Replace(string(b), "replicas: 6", "replicas: 2", 1)), 0o644)
	if _, stderr, code := runDrover(t, inv, "apply", p3); code != 1 || !strings.Contains(stderr, "changed since the plan") {
		t.Errorf("edited compose file: exit %d\n%s", code, stderr)
	}

	// The plan file carries the specs apply starts containers from, their
	// environment values sealed with the state key, never in clear text.
	const secret = "pl4n-e2e-s3cr3t"
	withEnv := filepath.Join(dir, "env.yml")
	os.WriteFile(withEnv, []byte(strings.Replace(string(b), "    image: drover-test/app:nohc\n", "    image: drover-test/app:nohc\n    environment: {PLAN_SECRET: "+secret+"}\n", 1)), 0o644)
	p4 := filepath.Join(dir, "p4.json")
	mustDrover(t, inv, "plan", "-c", withEnv, "--out", p4, stack)
	data, _ := os.ReadFile(p4)
	if strings.Contains(string(data), secret) || !strings.Contains(string(data), "drover-sealed:v1:") {
		t.Errorf("plan file holds an environment value in clear text, or none sealed:\n%s", data)
	}
	// A cluster that moved since (a replica stopped by hand) refuses it.
	cs := stackContainers(t, stack)
	hostDocker(t, cs[0].Host, "stop", "-t", "1", cs[0].ID)
	if _, stderr, code := runDrover(t, inv, "apply", p4); code != 1 || !strings.Contains(stderr, "stale plan") || !strings.Contains(stderr, "cluster changed") {
		t.Errorf("plan made before a replica stopped: exit %d\n%s", code, stderr)
	}
	// Planned again, apply carries it out as saved: the rollout the plan
	// shows, the sealed value opened into the containers.
	p5 := filepath.Join(dir, "p5.json")
	stdout, _, _ := runDrover(t, inv, "plan", "-c", withEnv, "--out", p5, stack)
	if !strings.Contains(stdout, "rolling updates:") || !strings.Contains(stdout, stack+"_app  batches [") {
		t.Errorf("the plan shows no rollout:\n%s", stdout)
	}
	mustDrover(t, inv, "apply", p5)
	cs = stackContainers(t, stack)
	slotsOK(t, cs, 6)
	for _, c := range running(cs) {
		if env := hostDocker(t, c.Host, "inspect", "--format", "{{json .Config.Env}}", c.ID); !strings.Contains(env, "PLAN_SECRET="+secret) {
			t.Errorf("%s has env %s", c.Name, env)
		}
	}
}
