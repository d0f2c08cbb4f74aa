//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imagesDir is $DROVER_TEST_IMAGES, or this run's build of
// scripts/build-test-images.sh when that is unset or lacks file.
func imagesDir(t *testing.T, file string) string {
	t.Helper()
	if dir := os.Getenv("DROVER_TEST_IMAGES"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
			return dir
		}
	}
	dir := filepath.Join(tmpDir, "images")
	if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
		cmd := exec.Command("bash", filepath.Join(lab(t).RepoRoot, "scripts", "build-test-images.sh"), dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build images: %v\n%s", err, out)
		}
	}
	return dir
}

type loadRow struct {
	Host, Image, Platform, ID, Result, Error string
	Bytes                                    int64
}

func rmiEverywhere(t *testing.T, imgs ...string) {
	for _, h := range lab(t).Hosts {
		for _, img := range imgs {
			hostDockerErr(t, h.Name, "rmi", "-f", img)
		}
	}
}

// TestImageLoadMultiPlatform: an OCI archive with an amd64 and an arm64
// variant puts the amd64 one on every (amd64) host, only where missing,
// and the stack runs from it.
func TestImageLoadMultiPlatform(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const img, stack = "drover-test/multi:v1", "e2emulti"
	archive := filepath.Join(imagesDir(t, "multi-v1.oci.tar"), "multi-v1.oci.tar")
	rmiEverywhere(t, img)
	t.Cleanup(func() { rmiEverywhere(t, img) })
	cleanupStack(t, inv, stack)

	out := mustDrover(t, inv, "-o", "json", "image", "load", archive)
	var rows []loadRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err, out)
	}
	if len(rows) != len(l.Hosts) {
		t.Fatalf("%d rows, want one per host: %+v", len(rows), rows)
	}
	id := rows[0].ID
	for _, r := range rows {
		if r.Result != "loaded" || r.Platform != "linux/amd64" || r.Image != img || r.ID != id || r.Bytes == 0 {
			t.Errorf("row %+v", r)
		}
		got := hostDocker(t, r.Host, "image", "inspect", "--format", "{{.Id}} {{.Architecture}}", img)
		if got != id+" amd64" {
			t.Errorf("%s: %s is %q, want %s amd64", r.Host, img, got, id)
		}
	}

	// Only hosts lacking it: remove it from h2, load again.
	hostDocker(t, "h2", "rmi", img)
	out = mustDrover(t, inv, "-o", "json", "image", "load", archive)
	rows = nil
	json.Unmarshal([]byte(out), &rows)
	for _, r := range rows {
		want := "up to date"
		if r.Host == "h2" {
			want = "loaded"
		}
		if r.Result != want {
			t.Errorf("second load on %s: %s, want %s", r.Host, r.Result, want)
		}
	}

	// image ls shows it with its platform; the stack runs on every host.
	file := filepath.Join(t.TempDir(), "multi.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    image: "+img+"\n    deploy: {replicas: 3}\n"), 0o644)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	slotsOK(t, stackContainers(t, stack), 3)
	out = mustDrover(t, inv, "-o", "json", "image", "ls")
	var ls []struct {
		Host, Image, ID, Platform string
		Present                   bool
		Services                  []string
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatal(err, out)
	}
	if len(ls) != len(l.Hosts) {
		t.Fatalf("image ls: %+v", ls)
	}
	for _, r := range ls {
		if !r.Present || r.Image != img || r.ID != id || r.Platform != "linux/amd64" || len(r.Services) != 1 || r.Services[0] != stack+"_web" {
			t.Errorf("image ls row %+v", r)
		}
	}
}

// TestImageArm64Refused: an arm64-only image is skipped by image load on
// amd64 hosts; present on the hosts anyway (docker load does not check),
// a stack using it is refused before any change, naming both platforms;
// image push refuses to send it to an amd64 host.
func TestImageArm64Refused(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const img, stack = "drover-test/arm:v1", "e2earm"
	archive := filepath.Join(imagesDir(t, "arm-v1.tar"), "arm-v1.tar")
	rmiEverywhere(t, img)
	t.Cleanup(func() { rmiEverywhere(t, img) })
	cleanupStack(t, inv, stack)

	out, stderr, code := runDrover(t, inv, "-o", "json", "image", "load", archive)
	if code != 0 || !strings.Contains(stderr, "has no variant for linux/amd64 (platforms linux/arm64): skipped") {
		t.Errorf("image load of an arm64-only archive: exit %d", code)
	}
	var rows []loadRow
	json.Unmarshal([]byte(out), &rows)
	for _, r := range rows {
		if r.Result != "skipped" {
			t.Errorf("row %+v, want skipped", r)
		}
	}
	for _, h := range l.Hosts {
		if _, err := hostDockerErr(t, h.Name, "image", "inspect", img); err == nil {
			t.Errorf("%s has %s after a load that skipped it", h.Name, img)
		}
	}

	labCmd(t, "load", archive)
	file := filepath.Join(t.TempDir(), "arm.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    image: "+img+"\n    deploy: {replicas: 3}\n"), 0o644)
	want := img + " is linux/arm64 only; eligible nodes h1, h2, h3 are linux/amd64"
	for _, cmd := range [][]string{{"plan", "-c", file, stack}, {"stack", "deploy", "-c", file, stack}} {
		_, stderr, code := runDrover(t, inv, cmd...)
		if code != 1 || !strings.Contains(stderr, want) || !strings.Contains(stderr, "3 nodes lack a variant of "+img+" (platforms linux/arm64)") {
			t.Errorf("%s: exit %d, want 1 and %q", cmd[0], code, want)
		}
	}
	if n := len(stackContainers(t, stack)); n != 0 {
		t.Errorf("%d containers created for an arm64-only image", n)
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json")); err == nil && strings.Contains(string(b), `"`+stack+`"`) {
		t.Errorf("the refused stack was saved in the state")
	}

	// h1's engine plays the local one: push refuses h2.
	hostDocker(t, "h2", "rmi", img)
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	out, stderr, code = runDrover(t, inv, "-o", "json", "image", "push", "--hosts", "h2", img)
	if code != 1 || !strings.Contains(stderr, "h2: not sending "+img+": the image is linux/arm64, the host is linux/amd64") {
		t.Errorf("image push to another platform: exit %d", code)
	}
	if _, err := hostDockerErr(t, "h2", "image", "inspect", img); err == nil {
		t.Errorf("h2 received %s", img)
	}
}

// TestImageWrongCopyOnOneHost: h1 holds an arm64 copy of the image (docker
// load took it), h2 and h3 the amd64 one: replicas go to h2 and h3 only,
// and the one left over is pending with h1's copy as the reason.
func TestImageWrongCopyOnOneHost(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const img, stack = "drover-test/mixed:v1", "e2emixed"
	archive := filepath.Join(imagesDir(t, "arm-v1.tar"), "arm-v1.tar")
	rmiEverywhere(t, img, "drover-test/arm:v1")
	t.Cleanup(func() { rmiEverywhere(t, img, "drover-test/arm:v1") })
	cleanupStack(t, inv, stack)
	labCmd(t, "load", archive, "h1")
	hostDocker(t, "h1", "tag", "drover-test/arm:v1", img)
	for _, h := range []string{"h2", "h3"} {
		hostDocker(t, h, "tag", "drover-test/app:v1", img)
	}
	file := filepath.Join(t.TempDir(), "mixed.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    image: "+img+"\n    deploy:\n      replicas: 3\n      placement: {max_replicas_per_node: 1}\n"), 0o644)
	out, stderr, code := runDrover(t, inv, "-o", "json", "stack", "deploy", "-c", file, stack)
	if code != 3 || !strings.Contains(stderr, "1 node holds "+img+" built for linux/arm64 (remove it, or load the linux/amd64 variant)") {
		t.Errorf("deploy: exit %d, want 3 (pending) naming h1's copy", code)
	}
	// One JSON document on stdout, pending exit included.
	var doc struct {
		Applied  bool
		Pending  int
		ExitCode int `json:"exit_code"`
		Error    string
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&doc); err != nil || dec.More() || !doc.Applied || doc.Pending != 1 || doc.ExitCode != 3 || !strings.Contains(doc.Error, "1 replica pending") {
		t.Errorf("stdout: %+v (%v)", doc, err)
	}
	hosts := map[string]int{}
	for _, c := range running(stackContainers(t, stack)) {
		hosts[c.Host]++
	}
	if len(hosts) != 2 || hosts["h2"] != 1 || hosts["h3"] != 1 {
		t.Errorf("replicas on %v, want one on h2 and one on h3", hosts)
	}
}

// TestImageRegistryPlatforms: an image no host has is looked up in its
// registry (here go-containerregistry's, in-process on localhost): an
// arm64-only one is refused before any host pulls it.
func TestImageRegistryPlatforms(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2ereg"
	cleanupStack(t, inv, stack)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.Replace(strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1", "localhost", 1)
	img, err := tarball.ImageFromPath(filepath.Join(imagesDir(t, "arm-v1.tar"), "arm-v1.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := host + "/lab/arm:v1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "reg.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    image: "+ref+"\n    deploy: {replicas: 2}\n"), 0o644)
	want := ref + " is linux/arm64 only; eligible nodes h1, h2, h3 are linux/amd64"
	for _, cmd := range [][]string{{"plan", "-c", file, stack}, {"stack", "deploy", "-c", file, stack}} {
		_, stderr, code := runDrover(t, inv, cmd...)
		if code != 1 || !strings.Contains(stderr, want) || strings.Contains(stderr, "image_pull") {
			t.Errorf("%s: exit %d, want 1 naming the registry's platforms before any pull", cmd[0], code)
		}
	}
	if n := len(stackContainers(t, stack)); n != 0 {
		t.Errorf("%d containers created", n)
	}
}
