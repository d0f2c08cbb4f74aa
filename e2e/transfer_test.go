//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployPush: stack deploy --push sends the stack's images from the
// local engine to the hosts that lack them before anything starts.
func TestDeployPush(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const stack = "e2epush"
	cleanupStack(t, inv, stack)
	// The app:v2 image, retagged, exists only on h1 (the "local" engine).
	const img = "drover-test/pushed:v2"
	for _, h := range l.Hosts {
		hostDockerErr(t, h.Name, "rmi", "-f", img)
	}
	hostDocker(t, "h1", "tag", "drover-test/app:v2", img)
	t.Cleanup(func() {
		for _, h := range l.Hosts {
			hostDockerErr(t, h.Name, "rmi", "-f", img)
		}
	})
	file := filepath.Join(t.TempDir(), "push.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    image: "+img+"\n    deploy: {replicas: 3}\n"), 0o644)

	// Without --push the missing image stops the run before any change.
	if _, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", file, stack); code != 1 || !strings.Contains(stderr, "--push") {
		t.Errorf("deploy without the image: exit %d\n%s", code, stderr)
	}
	if n := len(stackContainers(t, stack)); n != 0 {
		t.Errorf("%d containers created although an image was missing", n)
	}
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	mustDrover(t, inv, "stack", "deploy", "--push", "-c", file, stack)
	slotsOK(t, stackContainers(t, stack), 3)
	want := hostDocker(t, "h1", "image", "inspect", "--format", "{{.Id}}", img)
	for _, h := range l.Hosts {
		if id := hostDocker(t, h.Name, "image", "inspect", "--format", "{{.Id}}", img); id != want {
			t.Errorf("%s: %s is %s, want %s", h.Name, img, id, want)
		}
	}
}

// TestStatePullPush: pull the state, push it back only when newer.
func TestStatePullPush(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2estate"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, filepath.Dir(inv), 1), stack)
	pulled := mustDrover(t, inv, "state", "pull")
	var s map[string]any
	if err := json.Unmarshal([]byte(pulled), &s); err != nil {
		t.Fatalf("state pull is not JSON: %v", err)
	}
	file := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(file, []byte(pulled), 0o600)
	// Same serial: refused.
	if _, stderr, code := runDrover(t, inv, "state", "push", file); code != 1 || !strings.Contains(stderr, "not newer") {
		t.Errorf("push of the same serial: exit %d\n%s", code, stderr)
	}
	// Newer serial: accepted.
	s["serial"] = s["serial"].(float64) + 5
	b, _ := json.Marshal(s)
	os.WriteFile(file, b, 0o600)
	mustDrover(t, inv, "state", "push", file)
	if got := readStateFile(t, inv).Serial; got != int64(s["serial"].(float64)) {
		t.Errorf("serial after push %d", got)
	}
	// Another lineage: refused without --force.
	s["lineage"] = "00000000-0000-0000-0000-000000000000"
	s["serial"] = s["serial"].(float64) + 1
	b, _ = json.Marshal(s)
	os.WriteFile(file, b, 0o600)
	if _, stderr, code := runDrover(t, inv, "state", "push", file); code != 1 || !strings.Contains(stderr, "lineage") {
		t.Errorf("push of another lineage: exit %d\n%s", code, stderr)
	}
}
