//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// managersInventory makes every lab host a manager and keeps the state on
// them, in a folder of this test's own.
func managersInventory(t *testing.T, cluster string) (inv, dir string) {
	t.Helper()
	inv = ownCluster(t, cluster)
	b, _ := os.ReadFile(inv)
	s := strings.ReplaceAll(string(b), "role: worker", "role: manager")
	dir = fmt.Sprintf("/var/lib/drover/%s-%d", cluster, time.Now().UnixNano())
	s = strings.Replace(s, "  backend: local\n  path: drover.state.json\n", "  backend: managers\n  dir: "+dir+"\n", 1)
	if !strings.Contains(s, "backend: managers") {
		t.Fatalf("could not switch the inventory to the managers backend:\n%s", s)
	}
	os.WriteFile(inv, []byte(s), 0o644)
	return inv, dir
}

// managerSerial reads the state copy a lab host keeps (-1: none).
func managerSerial(t *testing.T, host, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lab(t).Dir, host, "drover", strings.TrimPrefix(dir, "/var/lib/drover/"), "state.json"))
	if err != nil {
		return -1
	}
	var s struct{ Serial int64 }
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: state copy is not JSON: %v", host, err)
	}
	return s.Serial
}

func TestManagersBackend(t *testing.T) {
	ensureImages(t)
	inv, dir := managersInventory(t, "lab-mgr")
	const stack = "e2emgr"
	cleanupStack(t, inv, stack)
	idir := filepath.Dir(inv)

	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 3), stack)
	s1 := managerSerial(t, "h1", dir)
	for _, h := range []string{"h2", "h3"} {
		if got := managerSerial(t, h, dir); got != s1 || s1 < 1 {
			t.Fatalf("%s holds serial %d, h1 %d", h, got, s1)
		}
	}
	if _, err := os.Stat(filepath.Join(idir, "drover.state.json")); err == nil {
		t.Errorf("a local state file was written although the backend is managers")
	}

	// One of three managers down: everything works, the survivors converge.
	labCmd(t, "stop", "h3")
	t.Cleanup(func() { labCmd(t, "start", "h3") })
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 4), stack)
	s2 := managerSerial(t, "h1", dir)
	if s2 <= s1 || managerSerial(t, "h2", dir) != s2 {
		t.Errorf("serials after a deploy with h3 down: h1 %d h2 %d (before %d)", s2, managerSerial(t, "h2", dir), s1)
	}
	if got := managerSerial(t, "h3", dir); got != s1 {
		t.Errorf("h3 (down) has serial %d, want it to lag at %d", got, s1)
	}

	// Two of three down: refused, nothing changed anywhere.
	labCmd(t, "stop", "h2")
	t.Cleanup(func() { labCmd(t, "start", "h2") })
	before := stackContainers(t, stack)
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 5), stack)
	if code != 1 || !strings.Contains(stderr, "majority of managers") {
		t.Errorf("deploy with 2 of 3 managers down: exit %d\n%s", code, stderr)
	}
	if after := stackContainers(t, stack); len(after) != len(before) {
		t.Errorf("containers changed although the run was refused: %d → %d", len(before), len(after))
	}
	if got := managerSerial(t, "h1", dir); got != s2 {
		t.Errorf("h1's state moved (%d → %d) although the run was refused", s2, got)
	}

	// Back up: the next run repairs the lagging copies.
	labCmd(t, "start", "h2")
	labCmd(t, "start", "h3")
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 4), stack)
	s3 := managerSerial(t, "h1", dir)
	for _, h := range []string{"h2", "h3"} {
		if got := managerSerial(t, h, dir); got != s3 {
			t.Errorf("%s not repaired: serial %d, h1 %d", h, got, s3)
		}
	}
	out := mustDrover(t, inv, "lock", "status")
	if !strings.Contains(out, "unlocked") {
		t.Errorf("lock left behind: %s", out)
	}

	// One command moves the state back to a local file.
	mustDrover(t, inv, "state", "migrate", "--to", "local")
	b, _ := os.ReadFile(inv)
	if !strings.Contains(string(b), "backend: local") {
		t.Errorf("inventory not switched:\n%s", b)
	}
	if s := readStateFile(t, inv); s.Serial != s3 {
		t.Errorf("migrated state has serial %d, want %d", s.Serial, s3)
	}
	if out, _, code := runDrover(t, inv, "reconcile", "--detailed-exitcode"); code != 0 {
		t.Errorf("after migrating: reconcile exit %d\n%s", code, out)
	}
}

// TestNodeAddRm adds a lab host to an inventory that lacks it, then drains
// and removes it.
func TestNodeAddRm(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := ownCluster(t, "lab-nodes")
	b, _ := os.ReadFile(inv)
	h3 := l.Host(t, "h3")
	// Drop h3 from the inventory.
	i := strings.Index(string(b), "  - name: h3")
	if i < 0 {
		t.Fatalf("no h3 in the inventory:\n%s", b)
	}
	os.WriteFile(inv, append([]byte("# my cluster\n"), b[:i]...), 0o644)
	out := mustDrover(t, inv, "node", "add", "h3", h3.Addr, "--label", "storage=raid")
	if !strings.Contains(out, "added h3") || !strings.Contains(out, "host key: ssh-ed25519 SHA256:") {
		t.Errorf("node add output: %s", out)
	}
	b, _ = os.ReadFile(inv)
	if !strings.Contains(string(b), "# my cluster") || !strings.Contains(string(b), "name: h3") || !strings.Contains(string(b), "storage: raid") {
		t.Errorf("inventory after node add:\n%s", b)
	}
	nodes, _, _ := nodeLs(t, inv)
	if nodes["h3"].Status != "Ready" {
		t.Errorf("h3 after add: %+v", nodes["h3"])
	}
	const stack = "e2enodes"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "heal.yml"), stack)
	mustDrover(t, inv, "node", "rm", "h3")
	b, _ = os.ReadFile(inv)
	if strings.Contains(string(b), "name: h3") {
		t.Errorf("h3 still in the inventory:\n%s", b)
	}
	cs := stackContainers(t, stack)
	slotsOK(t, cs, 6)
	for _, c := range cs {
		if c.Host == "h3" {
			t.Errorf("replica left on removed h3: %v", c)
		}
	}
}
