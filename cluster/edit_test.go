package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestEditInventoryKeepsComments(t *testing.T) {
	src, _ := os.ReadFile("../inventory.yaml.example")
	p := filepath.Join(t.TempDir(), "inventory.yaml")
	os.WriteFile(p, src, 0o640)
	err := EditInventory(p, "/h", func(root *yaml.Node) error {
		MapSet(MapGet(root, "state"), "backend", Scalar("managers"))
		hosts := MapGet(root, "hosts")
		hosts.Content = append(hosts.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			Scalar("name"), Scalar("w3"), Scalar("address"), Scalar("10.0.0.23"),
		}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	for _, want := range []string{"# drover inventory: the hosts of one cluster", "# manager | worker (default worker)", "backend: managers", "name: w3"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("edited inventory lacks %q:\n%s", want, got)
		}
	}
	inv, err := LoadInventory(p, "/h")
	if err != nil || inv.State.Backend != "managers" || len(inv.Hosts) != 4 || inv.State.Dir != "/var/lib/drover/prod" {
		t.Fatalf("reload: %v %+v", err, inv)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
	// An edit that breaks the inventory is refused and the file kept.
	err = EditInventory(p, "/h", func(root *yaml.Node) error {
		MapSet(root, "cluster", Scalar("bad name"))
		return nil
	})
	if err == nil {
		t.Fatal("invalid edit accepted")
	}
	if again, _ := os.ReadFile(p); string(again) != string(got) {
		t.Error("file changed by a refused edit")
	}
}
