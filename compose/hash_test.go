package compose

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
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
			hashes[name] = checkoutFree(t, st.Services[name].Container).Hash()
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
	// Computed the same way as the golden's, on the checkout-free spec.
	if got := checkoutFree(t, st.Services["web"].Container).Hash(); got != oldWebHash {
		t.Errorf("web hashes %s without start_interval, want %s as before", got, oldWebHash)
	}
}

// oldWebHash is full.yml's web without start_interval, checkout-free. It
// was checked against the hash the drover before start_interval gave in
// its own checkout (104c81d8189bd049 with the sources under /work/wt-api).
const oldWebHash = "152828adcde030d0"

// checkoutFree puts bind sources below the repository at a fixed place:
// compose makes relative bind sources absolute, and the golden hashes must
// not depend on where the repository is checked out.
func checkoutFree(t *testing.T, c cluster.ContainerSpec) *cluster.ContainerSpec {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	mounts := make([]cluster.Mount, len(c.Mounts))
	copy(mounts, c.Mounts)
	for i := range mounts {
		if rel, err := filepath.Rel(root, mounts[i].Source); err == nil && !strings.HasPrefix(rel, "..") && filepath.IsAbs(mounts[i].Source) {
			mounts[i].Source = "/repo/" + filepath.ToSlash(rel)
		}
	}
	c.Mounts = mounts
	return &c
}
