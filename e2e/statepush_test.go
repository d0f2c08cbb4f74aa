//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatePushForceBothBackends: `state push --force` of a state of
// another lineage does the same on both backends: the pushed content
// replaces the stored state, which keeps its lineage, with the serial one
// above the stored one. Malformed documents and trailing data are refused
// before anything is written, naming the place.
func TestStatePushForceBothBackends(t *testing.T) {
	ensureImages(t)
	for _, backend := range []string{"local", "managers"} {
		t.Run(backend, func(t *testing.T) {
			var inv string
			if backend == "managers" {
				inv, _ = managersInventory(t, "lab-pf-mgr")
			} else {
				inv = ownCluster(t, "lab-pf")
			}
			const stack = "e2epf"
			cleanupStack(t, inv, stack)
			mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, filepath.Dir(inv), 1), stack)
			pull := func() map[string]any {
				var s map[string]any
				if err := json.Unmarshal([]byte(mustDrover(t, inv, "state", "pull")), &s); err != nil {
					t.Fatalf("state pull: %v", err)
				}
				return s
			}
			stored := pull()
			lineage, serial := stored["lineage"].(string), stored["serial"].(float64)
			file := filepath.Join(t.TempDir(), "other.json")
			write := func(doc string) {
				os.WriteFile(file, []byte(doc), 0o600)
			}
			marshal := func(s map[string]any) string { b, _ := json.Marshal(s); return string(b) }

			// Malformed: refused, naming the place, nothing written.
			bad := pull()
			bad["stacks"].(map[string]any)[stack].(map[string]any)["services"].(map[string]any)["app"].(map[string]any)["current"] = nil
			bad["serial"] = serial + 1
			write(marshal(bad))
			if _, stderr, code := runDrover(t, inv, "state", "push", file); code != 1 || !strings.Contains(stderr, `stacks["e2epf"].services["app"].current: null`) {
				t.Errorf("push of a null current: exit %d\n%s", code, stderr)
			}
			// Trailing data: refused.
			good := pull()
			good["serial"] = serial + 1
			write(marshal(good) + "\n{}")
			if _, stderr, code := runDrover(t, inv, "state", "push", file); code != 1 || !strings.Contains(stderr, "data after the end of the JSON document") {
				t.Errorf("push with trailing data: exit %d\n%s", code, stderr)
			}
			if got := pull()["serial"].(float64); got != serial {
				t.Fatalf("a refused push changed the serial: %v → %v", serial, got)
			}

			// Another lineage, an older serial, forced.
			other := pull()
			other["lineage"] = "00000000-0000-0000-0000-000000000000"
			other["serial"] = 0
			other["nodes"] = map[string]any{"h1": map[string]any{"labels_add": map[string]any{"pushed": "yes"}}}
			write(marshal(other))
			if _, stderr, code := runDrover(t, inv, "state", "push", file); code != 1 || !strings.Contains(stderr, "lineage") {
				t.Errorf("push of another lineage without --force: exit %d\n%s", code, stderr)
			}
			mustDrover(t, inv, "state", "push", "--force", file)
			now := pull()
			if now["lineage"] != lineage || now["serial"].(float64) != serial+1 {
				t.Errorf("after push --force: lineage %v serial %v, want %s and %v", now["lineage"], now["serial"], lineage, serial+1)
			}
			if b, _ := json.Marshal(now["nodes"]); !strings.Contains(string(b), `"pushed":"yes"`) {
				t.Errorf("the pushed content is not stored: nodes %s", b)
			}
			hist := now["history"].([]any)
			if last := hist[len(hist)-1].(map[string]any)["summary"].(string); !strings.Contains(last, "pushed as serial") {
				t.Errorf("history does not say what the push did: %q", last)
			}
		})
	}
}
