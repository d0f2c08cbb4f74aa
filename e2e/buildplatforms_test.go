//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// multiBinaries are the static test app for amd64 and 386, as
// build-test-images.sh builds them.
func multiBinaries(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"amd64": filepath.Join(imagesDir(t, "app"), "app"), "386": filepath.Join(imagesDir(t, "app386"), "app386")}
}

// multiProject writes a compose project of one global service whose one
// Dockerfile builds for any platform (`ARG TARGETARCH`,
// `COPY app-$TARGETARCH`), with the x-drover and build keys given.
func multiProject(t *testing.T, buildKeys string) string {
	t.Helper()
	dir := t.TempDir()
	ctx := filepath.Join(dir, "web")
	os.MkdirAll(ctx, 0o755)
	for arch, bin := range multiBinaries(t) {
		b, err := os.ReadFile(bin)
		if err == nil {
			err = os.WriteFile(filepath.Join(ctx, "app-"+arch), b, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	writeMultiDockerfile(t, ctx, "m1")
	compose := "services:\n  web:\n    build:\n      context: ./web\n" + buildKeys +
		"    deploy: {mode: global, update_config: {parallelism: 4, monitor: 1s}, rollback_config: {parallelism: 4, monitor: 1s}}\n"
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

// hostVariant is what a host holds as ref: "ID ARCH".
func hostVariant(t *testing.T, host, ref string) string {
	return hostDocker(t, host, "image", "inspect", "--format", "{{.Id}} {{.Architecture}}", ref)
}

// TestDeployBuildMultiPlatform: a global service on h1..h3 (amd64) and
// h4 (386) is built by the local engine (h1's, via DOCKER_HOST) once per
// platform of its nodes, from one Dockerfile with ARG TARGETARCH, with the
// classic builder (the 386 image's config saying linux/386); every host
// holds the variant of its platform under the one reference and runs it;
// an unchanged build changes nothing; a source change rolls out both
// variants; rollback goes back without a build; prune keeps both variants
// of the kept generation. Then built on h2 with build.platforms.
func TestDeployBuildMultiPlatform(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	h4 := l.Extra(t, "linux/386")
	inv := copyInventoryWith(t, h4)
	const stack = "e2emplat"
	hosts := append([]string{}, "h1", "h2", "h3", h4.Name)
	arch := map[string]string{"h1": "amd64", "h2": "amd64", "h3": "amd64", h4.Name: "386"}
	rmBuilt := func() {
		for _, h := range hosts {
			ids, _ := hostDockerErr(t, h, "images", "-q", "--filter", "label=drover.cluster="+testCluster(t))
			for _, id := range strings.Fields(ids) {
				hostDockerErr(t, h, "rmi", "-f", id)
			}
		}
	}
	rmBuilt()
	t.Cleanup(rmBuilt)
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
		if got := hostDocker(t, "h1", "image", "inspect", "--format", "{{.Architecture}}", v.Image); "linux/"+got != v.Platform {
			t.Errorf("variant %s on the builder says %s", v.Platform, got)
		}
	}

	check := func(when, version string) (string, map[string]string) {
		t.Helper()
		ref, variants := builtVariants(t, inv, stack, "web")
		if len(variants) != 2 || variants["linux/amd64"] == "" || variants["linux/386"] == "" {
			t.Errorf("%s: state: variants %v", when, variants)
		}
		runs := map[string]string{}
		for _, h := range hosts {
			// stackContainers lists the inventory's hosts, h4 is an extra.
			ids := strings.Fields(hostDocker(t, h, "ps", "-q", "--filter", "label=drover.stack="+stack))
			if len(ids) != 1 {
				t.Errorf("%s: %s runs %d replicas, want 1", when, h, len(ids))
				continue
			}
			runs[h] = hostDocker(t, h, "inspect", "--format", "{{.Config.Image}} {{range .Config.Env}}{{.}} {{end}}", ids[0]) + " "
			// The app says the platform it was built for.
			ip := hostDocker(t, h, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ids[0])
			if body, _ := labCmdErr(t, "exec", h, "busybox", "wget", "-q", "-O", "-", "http://"+ip+":8080/"); !strings.Contains(body, `"platform":"linux/`+arch[h]+`"`) {
				t.Errorf("%s: %s's replica answers %q, want platform linux/%s", when, h, body, arch[h])
			}
		}
		for _, h := range hosts {
			if got, want := hostVariant(t, h, ref), variants["linux/"+arch[h]]+" "+arch[h]; got != want {
				t.Errorf("%s: %s holds %s as %q, want %q", when, h, ref, got, want)
			}
			if r := runs[h]; !strings.HasPrefix(r, ref+" ") || !strings.Contains(r, "ARCH="+arch[h]+" ") || !strings.Contains(r, "VERSION="+version) {
				t.Errorf("%s: %s runs %q, want %s with ARCH=%s VERSION=%s", when, h, r, ref, arch[h], version)
			}
		}
		return ref, variants
	}
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	if code != 0 {
		t.Fatalf("deploy --build: exit %d\n%s", code, stderr)
	}
	logShipped(t, stderr)
	ref, variants := check("first deploy", "m1")
	if ref != res[0].Image {
		t.Errorf("deploy built %s, drover build %s: the same build should have the same tag", ref, res[0].Image)
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
	logShipped(t, stderr)
	// Each host had its platform's previous build: the app layer stays.
	if n := strings.Count(stderr, "layers_skipped=1"); n != 3 {
		t.Errorf("want h2, h3 and h4 sent their variant without the app layer (layers_skipped=1), got %d:\n%s", n, stderr)
	}
	_, variants2 := check("after the change", "m2")

	_, stderr, code = runDrover(t, inv, "service", "rollback", stack+"_web")
	if code != 0 || strings.Contains(stderr, "built in") {
		t.Errorf("rollback: exit %d, built: %v", code, strings.Contains(stderr, "built in"))
	}
	if back, _ := check("after rollback", "m1"); back != ref {
		t.Errorf("rollback went to %s, want %s", back, ref)
	}

	// prune --keep 1: the current generation (1, after the rollback) stays
	// on every host, generation 2's variants go.
	mustDrover(t, inv, "image", "prune", "--keep", "1")
	for id, keep := range map[string]bool{variants["linux/amd64"]: true, variants["linux/386"]: true, variants2["linux/amd64"]: false, variants2["linux/386"]: false} {
		if _, err := hostDockerErr(t, "h1", "image", "inspect", id); (err == nil) != keep {
			t.Errorf("after prune h1 has %s: %v, want %v", id, err == nil, keep)
		}
	}
	if _, err := hostDockerErr(t, h4.Name, "image", "inspect", variants2["linux/386"]); err == nil {
		t.Errorf("after prune %s still has generation 2's variant", h4.Name)
	}
	check("after prune", "m1")

	// Built on h2 (x-drover.build_on) with build.platforms, shipped from there.
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	fileOn := multiProject(t, "      platforms: [linux/386, linux/amd64]\n    x-drover: {build_on: h2}\n")
	writeMultiDockerfile(t, filepath.Join(filepath.Dir(fileOn), "web"), "m3")
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", fileOn, stack)
	if code != 0 {
		t.Fatalf("deploy --build on h2: exit %d\n%s", code, stderr)
	}
	logShipped(t, stderr)
	check("built on h2", "m3")
}

// logShipped logs the build and transfer lines (the numbers of the report).
func logShipped(t *testing.T, stderr string) {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "built in") || strings.Contains(line, "hosts done") || strings.Contains(line, "deploy --build:") {
			t.Log(line)
		}
	}
}
