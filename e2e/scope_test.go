//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// A change to one service (scale, update) plans only that service's stack:
// another stack's missing replica is left to reconcile or its own deploy.
func TestServiceChangeTouchesOnlyItsStack(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const a, b = "e2escopea", "e2escopeb"
	cleanupStack(t, inv, a)
	cleanupStack(t, inv, b)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), a)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), b)
	victim := running(stackContainers(t, b))[0]
	hostDocker(t, victim.Host, "rm", "-f", victim.ID)

	out := mustDrover(t, inv, "service", "scale", a+"_app=7")
	if strings.Contains(out, b+"_") {
		t.Errorf("scaling %s_app planned stack %s:\n%s", a, b, out)
	}
	if n := len(running(stackContainers(t, b))); n != 5 {
		t.Errorf("stack %s has %d running replicas after scaling %s, want 5 (its missing one is not this run's)", b, n, a)
	}
	out = mustDrover(t, inv, "service", "update", "--env-add", "X=1", a+"_app")
	if strings.Contains(out, b+"_") {
		t.Errorf("updating %s_app planned stack %s:\n%s", a, b, out)
	}
	slotsOK(t, stackContainers(t, a), 7)
	// reconcile heals the other stack.
	reconcile(t, inv)
	slotsOK(t, stackContainers(t, b), 6)
}
