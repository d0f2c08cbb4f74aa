package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInventoryEditsKeepComments: the typed edits change what they name
// and keep the file's comments, key order and mode.
func TestInventoryEditsKeepComments(t *testing.T) {
	src, _ := os.ReadFile("../inventory.yaml.example")
	p := filepath.Join(t.TempDir(), "inventory.yaml")
	os.WriteFile(p, src, 0o640)
	if err := SetStateLocation(p, "/h", StateLocation{Backend: "managers"}); err != nil {
		t.Fatal(err)
	}
	h := Host{Name: "w3", Address: "10.0.0.23", Role: Worker, Labels: map[string]string{"zone": "b", "disk": "ssd"}}
	h.SSH.User, h.SSH.Port = "ops", 2222
	if err := AddHost(p, "/h", h); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	for _, want := range []string{"# drover inventory: the hosts of one cluster", "# manager | worker (default worker)", "backend: managers",
		"- name: w3\n    address: 10.0.0.23\n    role: worker\n    labels: {disk: ssd, zone: b}\n    ssh: {user: ops, port: 2222}\n"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("edited inventory lacks %q:\n%s", want, got)
		}
	}
	inv, err := LoadInventory(p, "/h")
	if err != nil || inv.State.Backend != "managers" || len(inv.Hosts) != 4 || inv.State.Dir != "/var/lib/drover/prod" {
		t.Fatalf("reload: %v %+v", err, inv)
	}
	if w3, ok := inv.Host("w3"); !ok || w3.Labels["zone"] != "b" || w3.SSH.Port != 2222 || w3.SSH.User != "ops" {
		t.Errorf("added host reads back as %+v", w3)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
	if err := RemoveHost(p, "/h", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := SetStateLocation(p, "/h", StateLocation{Backend: "local", Path: "state/drover.json"}); err != nil {
		t.Fatal(err)
	}
	inv, err = LoadInventory(p, "/h")
	if err != nil || len(inv.Hosts) != 3 || inv.State.Backend != "local" || !strings.HasSuffix(inv.State.Path, "state/drover.json") {
		t.Fatalf("reload: %v %+v", err, inv)
	}
	if _, ok := inv.Host("w1"); ok {
		t.Error("w1 still there")
	}
	// An edit that breaks the inventory is refused and the file kept.
	before, _ := os.ReadFile(p)
	if err := AddHost(p, "/h", Host{Name: "m1", Address: "10.0.0.99", Role: Worker}); err == nil {
		t.Fatal("a second m1 was accepted")
	}
	if err := SetStateLocation(p, "/h", StateLocation{Backend: "carrier-pigeon"}); err == nil {
		t.Fatal("an unknown backend was accepted")
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("file changed by a refused edit")
	}
}
