package command

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With --output json, change commands print one JSON document on stdout
// even when they stop before running: CI parses stdout without looking at
// the exit code first.
func TestJSONOutcomeOnEarlyErrors(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(inv, []byte("cluster: c\nhosts:\n  - {name: h1, address: 127.0.0.1}\n"), 0o644)
	cases := []struct {
		name string
		args []string
		want string // in error
	}{
		{"plan without inventory", []string{"-i", filepath.Join(dir, "none.yaml"), "-o", "json", "plan", "-c", "x.yml", "s"}, "none.yaml"},
		{"deploy with a missing compose file", []string{"-i", inv, "-o", "json", "stack", "deploy", "-c", filepath.Join(dir, "missing.yml"), "s"}, "missing.yml"},
		{"reconcile without inventory", []string{"-i", filepath.Join(dir, "none.yaml"), "-o", "json", "reconcile"}, "none.yaml"},
		{"apply of a missing plan file", []string{"-i", inv, "-o", "json", "apply", filepath.Join(dir, "plan.json")}, "plan.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, _, code := runMain(t, c.args...)
			var doc struct {
				Plan     any    `json:"plan"`
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			dec := json.NewDecoder(strings.NewReader(out))
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out)
			}
			if dec.More() {
				t.Errorf("more than one document:\n%s", out)
			}
			if code != 1 || doc.ExitCode != code || doc.Plan != nil || !strings.Contains(doc.Error, c.want) {
				t.Errorf("exit %d, document %+v; want exit 1 and an error naming %s", code, doc, c.want)
			}
		})
	}
}
