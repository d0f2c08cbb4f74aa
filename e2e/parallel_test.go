//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// --parallel 1 bounds every fan-out to one host or step at a time
// (internal/fanout): a deploy, image ls and stack rm still finish and do
// all their work on every host.
func TestParallelOne(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const stack = "e2epar"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "--parallel", "1", "stack", "deploy", "-c", stackFile(t, "heal.yml"), stack)
	slotsOK(t, stackContainers(t, stack), 6)
	for _, h := range l.Hosts {
		if nets := hostDocker(t, h.Name, "network", "ls", "-q", "--filter", "label=drover.stack="+stack); nets == "" {
			t.Errorf("%s: no network of %s after the deploy", h.Name, stack)
		}
	}
	out := mustDrover(t, inv, "--parallel", "1", "image", "ls")
	for _, h := range l.Hosts {
		if !strings.Contains(out, h.Name+" ") {
			t.Errorf("image ls lacks %s:\n%s", h.Name, out)
		}
	}
	mustDrover(t, inv, "--parallel", "1", "stack", "rm", stack)
	if cs := stackContainers(t, stack); len(cs) != 0 {
		t.Errorf("containers left after stack rm: %v", cs)
	}
	for _, h := range l.Hosts {
		if nets := hostDocker(t, h.Name, "network", "ls", "-q", "--filter", "label=drover.stack="+stack); nets != "" {
			t.Errorf("%s: networks left after stack rm: %s", h.Name, nets)
		}
	}
}
