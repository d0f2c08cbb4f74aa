package compose

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestSpecHashGolden pins the spec hash of every service of a few compose
// files. The hash is the drover.spec label of running replicas: if it
// changes for an unchanged file, upgrading drover replaces every replica.
// A change here must be deliberate (run with -update and say why).
func TestSpecHashGolden(t *testing.T) {
	files := []string{
		filepath.Join(fixtures, "full.yml"),
		"../testdata/stacks/three.yml",
		"../testdata/stacks/rolling.yml",
		"../testdata/stacks/many.yml",
		"../testdata/stacks/unhealthy.yml",
	}
	got := map[string]map[string]string{}
	for _, f := range files {
		st, _ := mustLoad(t, Options{Files: []string{f}, Environ: []string{"FROM_ENVIRON=from-environ"}})
		hashes := map[string]string{}
		names := make([]string, 0, len(st.Services))
		for name := range st.Services {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			hashes[name] = st.Services[name].Container.Hash()
		}
		got[filepath.ToSlash(f)] = hashes
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	golden := filepath.Join("testdata", "spec-hashes.golden.json")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(b) != string(want) {
		t.Errorf("spec hashes changed: replicas of unchanged files would be replaced on upgrade\ngot:\n%s\nwant:\n%s", b, want)
	}
}
