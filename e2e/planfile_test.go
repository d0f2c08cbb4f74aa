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
	// The plan file holds no environment values.
	data, _ := os.ReadFile(p3)
	if strings.Contains(string(data), `"env"`) {
		t.Errorf("plan file carries environment values:\n%s", data)
	}
}
