package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInventoryBuild(t *testing.T) {
	write := func(extra string) string {
		p := filepath.Join(t.TempDir(), "inventory.yaml")
		body := "cluster: c\n" + extra + "hosts:\n  - {name: h1, address: 10.0.0.1}\n  - {name: h2, address: 10.0.0.2}\n"
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inv, err := LoadInventory(write(""), "/home/u")
	if err != nil || inv.Build.On != "" || inv.Build.Keep != DefaultKeepBuilds {
		t.Fatalf("defaults: %+v %v", inv.Build, err)
	}
	inv, err = LoadInventory(write("build: {on: h2, keep: 5}\n"), "/home/u")
	if err != nil || inv.Build.On != "h2" || inv.Build.Keep != 5 {
		t.Fatalf("build: %+v %v", inv.Build, err)
	}
	for extra, want := range map[string]string{
		"build: {on: h9}\n":    `build.on: no host "h9"`,
		"build: {keep: 0}\n":   "build.keep must be a whole number of generations, at least 1",
		"build: {keep: x}\n":   "build.keep must be",
		"build: {where: h1}\n": "where",
	} {
		if _, err := LoadInventory(write(extra), "/home/u"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", extra, err, want)
		}
	}
}
