//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// multiProject writes a compose project whose one Dockerfile builds for
// any platform from a static test app per GOARCH (`ARG TARGETARCH`,
// `COPY app-$TARGETARCH`), with build.platforms linux/amd64 and linux/386.
func multiProject(t *testing.T, buildOn string) string {
	t.Helper()
	dir := t.TempDir()
	ctx := filepath.Join(dir, "web")
	os.MkdirAll(ctx, 0o755)
	for _, arch := range []string{"amd64", "386"} {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(ctx, "app-"+arch), "./internal/testapp")
		cmd.Dir = lab(t).RepoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the test app for %s: %v\n%s", arch, err, out)
		}
	}
	writeMultiDockerfile(t, ctx, "m1")
	on := ""
	if buildOn != "" {
		on = "    x-drover: {build_on: " + buildOn + "}\n"
	}
	compose := "services:\n  web:\n    build:\n      context: ./web\n      platforms: [linux/amd64, linux/386]\n" + on +
		"    deploy: {replicas: 3, update_config: {parallelism: 3, monitor: 1s}, rollback_config: {parallelism: 3, monitor: 1s}}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "compose.yml")
}

func writeMultiDockerfile(t *testing.T, ctx, version string) {
	t.Helper()
	df := "FROM scratch\nARG TARGETARCH\nCOPY app-$TARGETARCH /app\nENV VERSION=" + version + " ARCH=$TARGETARCH\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
}

// builtVariants reads the state's record of a service's build.
func builtVariants(t *testing.T, inv, stack, svc string) (string, map[string]string) {
	t.Helper()
	var st struct {
		Stacks map[string]struct {
			Services map[string]struct {
				Meta struct {
					Build *struct {
						Image    string
						Variants map[string]string
					}
				}
			}
		}
	}
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json"))
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	m := st.Stacks[stack].Services[svc].Meta.Build
	if m == nil {
		t.Fatalf("state: %s_%s has no build", stack, svc)
	}
	return m.Image, m.Variants
}

// TestDeployBuildMultiPlatform: build.platforms [linux/amd64, linux/386]
// builds one image per platform with the classic builder (the 386 one
// from one Dockerfile with ARG TARGETARCH, its config saying linux/386);
// every host holds the variant of its platform under the one reference;
// an unchanged build changes nothing; a source change rolls out;
// rollback goes back without a build; prune keeps both variants of the
// kept generations. Once with the local engine (h1 via DOCKER_HOST), once
// built on h2.
func TestDeployBuildMultiPlatform(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const stack = "e2emplat"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	file := multiProject(t, "")

	out, stderr, code := runDrover(t, inv, "-o", "json", "build", "-c", file, "--stack", stack)
	var res []struct {
		Image    string
		Variants []struct{ Platform, ID, Image string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || len(res[0].Variants) != 2 {
		t.Fatalf("drover build: exit %d, %s\n%s", code, out, stderr)
	}
	for _, v := range res[0].Variants {
		arch := strings.TrimPrefix(v.Platform, "linux/")
		if got := hostDocker(t, "h1", "image", "inspect", "--format", "{{.Architecture}}", v.Image); got != arch {
			t.Errorf("variant %s on the builder says %s", v.Platform, got)
		}
		t.Logf("variant %s: %s", v.Platform, v.Image)
	}

	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	if code != 0 {
		t.Fatalf("deploy --build: exit %d\n%s", code, stderr)
	}
	ref, variants := builtVariants(t, inv, stack, "web")
	if len(variants) != 2 || variants["linux/amd64"] == "" || variants["linux/386"] == "" {
		t.Errorf("state: variants %v", variants)
	}
	if ref != res[0].Image {
		t.Errorf("deploy built %s, drover build %s: the same build should have the same tag", ref, res[0].Image)
	}
	web1 := only(t, imagesOf(t, stack, "web"))
	if !strings.HasPrefix(web1, ref+" ") || !strings.Contains(web1, "ARCH=amd64") || !strings.Contains(web1, "VERSION=m1") {
		t.Errorf("web runs %q, want %s with ARCH=amd64", web1, ref)
	}
	for _, h := range l.Hosts {
		if got := hostDocker(t, h.Name, "image", "inspect", "--format", "{{.Id}} {{.Architecture}}", ref); got != variants["linux/amd64"]+" amd64" {
			t.Errorf("%s holds %s as %s, want the amd64 variant %s", h.Name, ref, got, variants["linux/amd64"])
		}
	}

	_, _, code = runDrover(t, inv, "stack", "deploy", "--build", "--detailed-exitcode", "-c", file, stack)
	if code != 0 {
		t.Errorf("unchanged deploy --build --detailed-exitcode: exit %d, want 0", code)
	}

	writeMultiDockerfile(t, filepath.Join(filepath.Dir(file), "web"), "m2")
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	if code != 0 {
		t.Fatalf("deploy --build of the change: exit %d\n%s", code, stderr)
	}
	ref2, variants2 := builtVariants(t, inv, stack, "web")
	if web2 := only(t, imagesOf(t, stack, "web")); ref2 == ref || !strings.Contains(web2, "VERSION=m2") || variants2["linux/386"] == variants["linux/386"] {
		t.Errorf("after the change web runs %q (%s, variants %v)", web2, ref2, variants2)
	}
	if !strings.Contains(stderr, "layers_skipped=1") {
		t.Errorf("the change should skip the app layer the hosts have:\n%s", stderr)
	}

	_, stderr, code = runDrover(t, inv, "service", "rollback", stack+"_web")
	if code != 0 || strings.Contains(stderr, "built in") {
		t.Errorf("rollback: exit %d, built: %v", code, strings.Contains(stderr, "built in"))
	}
	if got := only(t, imagesOf(t, stack, "web")); got != web1 {
		t.Errorf("after rollback web runs %q, want %q", got, web1)
	}

	// prune --keep 1 keeps the current generation (back to 1 after the
	// rollback): both its variants stay on the builder, the amd64 one on
	// every host; generation 2's variants go from the builder.
	mustDrover(t, inv, "image", "prune", "--keep", "1")
	for id, keep := range map[string]bool{variants["linux/amd64"]: true, variants["linux/386"]: true, variants2["linux/amd64"]: false, variants2["linux/386"]: false} {
		if _, err := hostDockerErr(t, "h1", "image", "inspect", id); (err == nil) != keep {
			t.Errorf("after prune h1 has %s: %v, want %v", id, err == nil, keep)
		}
	}
	for _, h := range l.Hosts {
		if _, err := hostDockerErr(t, h.Name, "image", "inspect", ref); err != nil {
			t.Errorf("prune removed the current %s from %s", ref, h.Name)
		}
	}

	// Built on h2 (x-drover.build_on), shipped from there.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	fileOn := multiProject(t, "h2")
	writeMultiDockerfile(t, filepath.Join(filepath.Dir(fileOn), "web"), "m3")
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", fileOn, stack)
	if code != 0 {
		t.Fatalf("deploy --build on h2: exit %d\n%s", code, stderr)
	}
	ref3, variants3 := builtVariants(t, inv, stack, "web")
	if got := hostDocker(t, "h2", "image", "inspect", "--format", "{{.Architecture}}", variants3["linux/386"]); got != "386" {
		t.Errorf("h2's 386 variant says %s", got)
	}
	for _, h := range l.Hosts {
		if got := hostDocker(t, h.Name, "image", "inspect", "--format", "{{.Id}}", ref3); got != variants3["linux/amd64"] {
			t.Errorf("%s holds %s as %s, want the amd64 variant %s", h.Name, ref3, got, variants3["linux/amd64"])
		}
	}
}
