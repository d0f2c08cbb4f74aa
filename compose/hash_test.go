package compose

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
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

// TestNewFieldsKeepOldHashes: full.yml without the keys drover learned
// with the Engine API (healthcheck.start_interval) hashes as before them,
// so a spec field added with omitempty leaves existing replicas alone.
func TestNewFieldsKeepOldHashes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "full.yml"))
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), "      start_interval: 2s\n", "", 1)
	if old == string(b) {
		t.Fatal("full.yml no longer sets start_interval")
	}
	p := filepath.Join(t.TempDir(), "full.yml")
	if err := os.WriteFile(p, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	// Relative paths (env_file, bind mounts) resolve as for the fixture.
	st, _ := mustLoad(t, Options{Files: []string{p}, WorkingDir: fixtures, Environ: []string{"FROM_ENVIRON=from-environ"}})
	// The hash the golden held before start_interval was mapped.
	if got := st.Services["web"].Container.Hash(); got != "104c81d8189bd049" {
		t.Errorf("web hashes %s without start_interval, want 104c81d8189bd049 as before", got)
	}
}
