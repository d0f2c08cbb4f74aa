//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildProject writes a two-service compose project whose build contexts
// are FROM scratch images of the test app (nothing can be pulled here).
func buildProject(t *testing.T, extra string) string {
	t.Helper()
	app, err := os.ReadFile(filepath.Join(imagesDir(t, "app"), "app"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, svc := range []string{"web", "api", "bad"} {
		os.MkdirAll(filepath.Join(dir, svc), 0o755)
		if err := os.WriteFile(filepath.Join(dir, svc, "app"), app, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeDockerfile(t, dir, "web", "w1")
	os.WriteFile(filepath.Join(dir, "bad", "Dockerfile"), []byte("FROM scratch\nCOPY missing-file /x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "web", ".dockerignore"), []byte("*.log\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "web", "debug.log"), []byte("not in the context"), 0o644)
	compose := "services:\n" +
		"  web:\n    build: ./web\n" + extra +
		"    deploy: {replicas: 3, update_config: {parallelism: 3, monitor: 1s}, rollback_config: {parallelism: 3, monitor: 1s}}\n" +
		// api's Dockerfile is inline ($$: compose interpolates $).
		"  api:\n    build:\n      context: ./api\n      args: {GREETING: hello}\n" +
		"      dockerfile_inline: |\n        FROM scratch\n        COPY app /app\n        ARG GREETING=none\n        ENV VERSION=a1 APP_GREETING=$$GREETING\n        ENTRYPOINT [\"/app\"]\n" + extra +
		"    deploy: {replicas: 1, update_config: {parallelism: 1, monitor: 1s}}\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeDockerfile(t *testing.T, dir, svc, version string) {
	t.Helper()
	df := "FROM scratch\nCOPY app /app\nARG GREETING=none\nENV VERSION=" + version + " APP_GREETING=$GREETING\nENTRYPOINT [\"/app\"]\n"
	if err := os.WriteFile(filepath.Join(dir, svc, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cleanupBuiltImages removes this test cluster's built images from every
// host now and at the end (register it before cleanupStack: cleanups run
// last first, and an image in use stays).
func cleanupBuiltImages(t *testing.T) {
	rm := func() {
		for _, h := range lab(t).Hosts {
			ids, _ := hostDockerErr(t, h.Name, "images", "-q", "--filter", "label=drover.cluster="+testCluster(t))
			for _, id := range strings.Fields(ids) {
				hostDockerErr(t, h.Name, "rmi", "-f", id)
			}
		}
	}
	rm()
	t.Cleanup(rm)
}

// imagesOf is the image reference of each running container of a service.
func imagesOf(t *testing.T, stack, svc string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, c := range running(stackContainers(t, stack)) {
		if c.Service == stack+"_"+svc {
			out[hostDocker(t, c.Host, "inspect", "--format", "{{.Config.Image}} {{range .Config.Env}}{{.}} {{end}}", c.ID)] = true
		}
	}
	return out
}

func only(t *testing.T, m map[string]bool) string {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("want one image for all replicas, got %v", m)
	}
	for k := range m {
		return k
	}
	return ""
}

// TestDeployBuild: a compose file with build: only (no image:) deploys
// with --build from the local engine (h1's, via DOCKER_HOST); an unchanged
// build changes nothing; a source change rolls out; rollback goes back
// without a build; a failing Dockerfile changes nothing; prune removes
// the generation no longer kept.
func TestDeployBuild(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const stack = "e2ebuild"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	dir := buildProject(t, "")
	file := filepath.Join(dir, "compose.yml")

	// Without --build a service without image: is refused.
	if _, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", file, stack); code != 1 || !strings.Contains(stderr, "only used with --build") {
		t.Errorf("deploy without --build: exit %d, %s", code, stderr)
	}

	_, stderr, code := runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	if code != 0 {
		t.Fatalf("deploy --build: exit %d", code)
	}
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_web"), 3)
	web1 := only(t, imagesOf(t, stack, "web"))
	if !strings.HasPrefix(web1, stack+"_web:") || !strings.Contains(web1, "VERSION=w1") {
		t.Errorf("web runs %q, want %s_web:TAG with VERSION=w1", web1, stack)
	}
	api1 := only(t, imagesOf(t, stack, "api"))
	if !strings.Contains(api1, "APP_GREETING=hello") {
		t.Errorf("api runs %q: the build arg is not in it", api1)
	}
	if !strings.Contains(stderr, "shipping built image") {
		t.Errorf("no shipping logged:\n%s", stderr)
	}
	// Shipped only where a replica runs: the api image is on h1 (the
	// local engine) and on the api replica's host, on no other.
	apiRef := strings.Fields(api1)[0]
	apiHosts := map[string]bool{"h1": true}
	for _, c := range running(stackContainers(t, stack)) {
		if c.Service == stack+"_api" {
			apiHosts[c.Host] = true
		}
	}
	for _, h := range l.Hosts {
		_, err := hostDockerErr(t, h.Name, "image", "inspect", apiRef)
		if has := err == nil; has != apiHosts[h.Name] {
			t.Errorf("%s has %s: %v, want %v (replica hosts and the build engine only)", h.Name, apiRef, has, apiHosts[h.Name])
		}
	}
	// The .dockerignore kept debug.log out of the build context.
	if out, _ := hostDockerErr(t, "h1", "history", "--no-trunc", strings.Fields(web1)[0]); strings.Contains(out, "debug.log") {
		t.Errorf("debug.log in the image history")
	}

	// Unchanged: builds from cache, changes nothing.
	_, _, code = runDrover(t, inv, "stack", "deploy", "--build", "--detailed-exitcode", "-c", file, stack)
	if code != 0 {
		t.Errorf("unchanged deploy --build --detailed-exitcode: exit %d, want 0 (nothing to do)", code)
	}

	// A source change rolls out the changed service only.
	writeDockerfile(t, dir, "web", "w2")
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	if code != 0 {
		t.Fatalf("deploy --build of the change: exit %d", code)
	}
	// Only the new layers went: the hosts had the app's layer already.
	if strings.Count(stderr, "layers_skipped=1") != 2 {
		t.Errorf("want h2 and h3 sent the image without its app layer (layers_skipped=1):\n%s", stderr)
	}
	web2 := only(t, imagesOf(t, stack, "web"))
	if web2 == web1 || !strings.Contains(web2, "VERSION=w2") {
		t.Errorf("after the change web runs %q (before: %q)", web2, web1)
	}
	if got := only(t, imagesOf(t, stack, "api")); got != api1 {
		t.Errorf("api changed: %q → %q", api1, got)
	}
	var st struct {
		Stacks map[string]struct {
			Services map[string]struct {
				Meta struct {
					Generation int
					Build      *struct{ Image, ID string }
				}
			}
		}
	}
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json"))
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	m := st.Stacks[stack].Services["web"].Meta
	if m.Generation != 2 || m.Build == nil || m.Build.Image != strings.Fields(web2)[0] {
		t.Errorf("state: web generation %d built %+v, want generation 2 built as %s", m.Generation, m.Build, strings.Fields(web2)[0])
	}

	// Rollback: the previous image, still on the hosts, no build.
	_, stderr, code = runDrover(t, inv, "service", "rollback", stack+"_web")
	if code != 0 || strings.Contains(stderr, "built in") {
		t.Errorf("rollback: exit %d, built: %v", code, strings.Contains(stderr, "built in"))
	}
	if got := only(t, imagesOf(t, stack, "web")); got != web1 {
		t.Errorf("after rollback web runs %q, want %q", got, web1)
	}

	// A failing Dockerfile: the builder's last lines and the service; nothing changed.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("services:\n  bad:\n    build: ./bad\n"), 0o644)
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", bad, stack)
	if code != 1 || !strings.Contains(stderr, "nothing was changed: building "+stack+"_bad") || !strings.Contains(stderr, "last lines of the build") || !strings.Contains(stderr, "COPY missing-file") {
		t.Errorf("failing build: exit %d\n%s", code, stderr)
	}
	if got := only(t, imagesOf(t, stack, "web")); got != web1 {
		t.Errorf("after a failed build web runs %q, want %q", got, web1)
	}

	// prune --keep 1: web's generation 2 image goes from every host.
	out := mustDrover(t, inv, "-o", "json", "image", "prune", "--keep", "1")
	var rows []struct{ Host, Image, Service, Result string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err, out)
	}
	web2Ref := strings.Fields(web2)[0]
	removed := 0
	for _, r := range rows {
		if r.Image != web2Ref || r.Result != "removed" {
			t.Errorf("prune row %+v: only %s should go", r, web2Ref)
		}
		removed++
	}
	if removed != len(l.Hosts) {
		t.Errorf("prune removed %s from %d hosts, want %d", web2Ref, removed, len(l.Hosts))
	}
	for _, h := range l.Hosts {
		if _, err := hostDockerErr(t, h.Name, "image", "inspect", web2Ref); err == nil {
			t.Errorf("%s still has %s", h.Name, web2Ref)
		}
		if _, err := hostDockerErr(t, h.Name, "image", "inspect", strings.Fields(web1)[0]); err != nil {
			t.Errorf("%s lost the current image %s", h.Name, strings.Fields(web1)[0])
		}
	}
}

// TestDeployBuildOn: with no local engine (DOCKER_HOST pointing nowhere),
// a deploy --build says so and points at build_on; with the inventory's
// build: {on: h1, keep: 1} the images are built on h1 and shipped from
// there, plan --build changes nothing, and a successful rollout prunes the
// builds no longer kept (those of a service --prune removed); x-drover.build_on
// works too.
func TestDeployBuildOn(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2ebuildon"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))

	dir := buildProject(t, "")
	file := filepath.Join(dir, "compose.yml")
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	if code != 1 || !strings.Contains(stderr, "no local docker engine") || !strings.Contains(stderr, "build_on") {
		t.Errorf("no local engine: exit %d\n%s", code, stderr)
	}

	b, _ := os.ReadFile(inv)
	if err := os.WriteFile(inv, append(b, []byte("build:\n  on: h1\n  keep: 1\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustDrover(t, inv, "-o", "json", "build", "-c", file, "--stack", stack, "web")
	var res []struct{ Service, Image, On string }
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 || res[0].On != "h1" || res[0].Service != stack+"_web" {
		t.Fatalf("drover build: %v %+v", err, res)
	}
	out, _, code = runDrover(t, inv, "plan", "--build", "-c", file, stack)
	if code != 0 || !strings.Contains(out, "4 to create") || len(stackContainers(t, stack)) != 0 {
		t.Errorf("plan --build: exit %d, %d containers\n%s", code, len(stackContainers(t, stack)), out)
	}
	mustDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_web"), 3)
	web1 := only(t, imagesOf(t, stack, "web"))
	if !strings.HasPrefix(web1, res[0].Image+" ") || !strings.Contains(web1, "VERSION=w1") {
		t.Errorf("web runs %q, want %s (built on h1)", web1, res[0].Image)
	}
	if api := only(t, imagesOf(t, stack, "api")); !strings.Contains(api, "APP_GREETING=hello") {
		t.Errorf("api (dockerfile_inline, built on h1) runs %q", api)
	}
	// The next build drops api (--prune): after the rollout its image goes
	// from every host, while web's first build stays as the rollback target.
	apiRef := strings.Fields(only(t, imagesOf(t, stack, "api")))[0]
	writeDockerfile(t, dir, "web", "w2")
	webOnly := filepath.Join(dir, "web-only.yml")
	os.WriteFile(webOnly, []byte("services:\n  web:\n    build: ./web\n    deploy: {replicas: 3, update_config: {parallelism: 3, monitor: 1s}}\n"), 0o644)
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "--prune", "-c", webOnly, stack)
	if code != 0 || !strings.Contains(only(t, imagesOf(t, stack, "web")), "VERSION=w2") {
		t.Fatalf("w2: exit %d", code)
	}
	if !strings.Contains(stderr, "pruned an older built image") {
		t.Errorf("no prune logged:\n%s", stderr)
	}
	for _, h := range lab(t).Hosts {
		if _, err := hostDockerErr(t, h.Name, "image", "inspect", apiRef); err == nil {
			t.Errorf("%s still has %s, whose service is gone", h.Name, apiRef)
		}
	}
	if _, err := hostDockerErr(t, "h1", "image", "inspect", strings.Fields(web1)[0]); err != nil {
		t.Errorf("h1 lost the rollback target %s", strings.Fields(web1)[0])
	}

	// A failing Dockerfile on the build host (x-drover.build_on): its last
	// lines, nothing changed.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("services:\n  bad:\n    build: ./bad\n    x-drover: {build_on: h2}\n"), 0o644)
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", bad, stack)
	if code != 1 || !strings.Contains(stderr, "building "+stack+"_bad with host h2") || !strings.Contains(stderr, "COPY missing-file") {
		t.Errorf("failing build on h2: exit %d\n%s", code, stderr)
	}
	if got := only(t, imagesOf(t, stack, "web")); !strings.Contains(got, "VERSION=w2") {
		t.Errorf("after a failed build web runs %q", got)
	}
}
