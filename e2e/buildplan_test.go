//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// withoutHost drops a host from an inventory copy: its engine can then be
// the "local engine" of a machine outside the cluster.
func withoutHost(t *testing.T, inv, host string) {
	t.Helper()
	b, err := os.ReadFile(inv)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?ms)^  - name: ` + regexp.QuoteMeta(host) + `\n.*?(^  - name: |\z)`)
	s := re.ReplaceAllString(string(b), "$1")
	if s == string(b) {
		t.Fatalf("no host %s in %s", host, inv)
	}
	if err := os.WriteFile(inv, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// containerIDs are a stack's container IDs, sorted, as one string.
func containerIDs(t *testing.T, stack string) string {
	var ids []string
	for _, c := range stackContainers(t, stack) {
		ids = append(ids, c.Host+":"+c.ID)
	}
	return strings.Join(ids, " ")
}

func hasImage(t *testing.T, host, ref string) bool {
	_, err := hostDockerErr(t, host, "image", "inspect", ref)
	return err == nil
}

// TestPlanBuildApply: what a CI pipeline does. The cluster is h2 and h3;
// the local engine is h1's, outside the cluster (DOCKER_HOST). plan
// --build --out builds and saves, changing nothing on any host; apply
// ships the image from the local engine and rolls out; a plan whose built
// image was removed from the builder is refused and changes nothing; and
// image prune removes the older builds from the local engine too.
func TestPlanBuildApply(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	withoutHost(t, inv, "h1")
	const stack = "e2eplanbuild"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	dir := buildProject(t, "")
	file := filepath.Join(dir, "web.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    build: ./web\n    deploy: {replicas: 2, update_config: {parallelism: 2, monitor: 1s}}\n"), 0o644)
	plan1 := filepath.Join(dir, "p1.json")

	out, _, code := runDrover(t, inv, "plan", "--build", "--out", plan1, "-c", file, stack)
	if code != 0 || !strings.Contains(out, "2 to create") {
		t.Fatalf("plan --build --out: exit %d\n%s", code, out)
	}
	var pf struct {
		Format int
		Builds []struct{ Service, Image, ID, On string }
	}
	b, _ := os.ReadFile(plan1)
	if err := json.Unmarshal(b, &pf); err != nil || pf.Format != 3 || len(pf.Builds) != 1 || pf.Builds[0].Service != stack+"_web" || pf.Builds[0].On != "" {
		t.Fatalf("plan file: %v format %d builds %+v", err, pf.Format, pf.Builds)
	}
	w1 := pf.Builds[0].Image
	if n := len(stackContainers(t, stack)); n != 0 {
		t.Errorf("plan --build --out started %d containers", n)
	}
	for _, h := range []string{"h2", "h3"} {
		if hasImage(t, h, w1) {
			t.Errorf("plan --build --out shipped %s to %s", w1, h)
		}
	}
	if !hasImage(t, "h1", w1) {
		t.Fatalf("the local engine (h1's) lacks the built %s", w1)
	}

	_, stderr, code := runDrover(t, inv, "apply", plan1)
	if code != 0 || !strings.Contains(stderr, "shipping built image") {
		t.Fatalf("apply: exit %d\n%s", code, stderr)
	}
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_web"), 2)
	if got := only(t, imagesOf(t, stack, "web")); !strings.HasPrefix(got, w1+" ") || !strings.Contains(got, "VERSION=w1") {
		t.Errorf("web runs %q, want %s", got, w1)
	}
	for _, h := range []string{"h2", "h3"} {
		if !hasImage(t, h, w1) {
			t.Errorf("%s lacks %s after apply", h, w1)
		}
	}

	// A second plan, whose image goes from the builder before apply.
	writeDockerfile(t, dir, "web", "w2")
	plan2 := filepath.Join(dir, "p2.json")
	mustDrover(t, inv, "plan", "--build", "--out", plan2, "-c", file, stack)
	b, _ = os.ReadFile(plan2)
	json.Unmarshal(b, &pf)
	w2 := pf.Builds[0].Image
	hostDocker(t, "h1", "rmi", w2)
	before := containerIDs(t, stack)
	_, stderr, code = runDrover(t, inv, "apply", plan2)
	if code != 1 || !strings.Contains(stderr, "built image "+w2) || !strings.Contains(stderr, "is no longer on the local engine") {
		t.Errorf("apply without the built image: exit %d\n%s", code, stderr)
	}
	if after := containerIDs(t, stack); after != before {
		t.Errorf("the refused apply changed containers:\n%s\n→ %s", before, after)
	}
	for _, h := range []string{"h2", "h3"} {
		if hasImage(t, h, w2) {
			t.Errorf("the refused apply shipped %s to %s", w2, h)
		}
	}

	// Two more builds (w2, w3): with --keep 1, w1 is neither kept nor the
	// rollback target, and goes from the hosts and the local engine.
	mustDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	writeDockerfile(t, dir, "web", "w3")
	mustDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	type row struct{ Host, Image, Service, Result string }
	prune := func(args ...string) map[string]string {
		out := mustDrover(t, inv, append([]string{"-o", "json", "image", "prune", "--keep", "1"}, args...)...)
		var rows []row
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatal(err, out)
		}
		got := map[string]string{}
		for _, r := range rows {
			if r.Image != w1 {
				t.Errorf("prune row %+v: only %s should go", r, w1)
			}
			got[r.Host] = r.Result
		}
		return got
	}
	if got := prune("--dry-run"); len(got) != 3 || got["local engine"] != "would remove" || got["h2"] != "would remove" {
		t.Errorf("prune --dry-run: %v, want would remove on h2, h3 and the local engine", got)
	}
	if !hasImage(t, "h1", w1) {
		t.Errorf("--dry-run removed %s from the local engine", w1)
	}
	if got := prune(); len(got) != 3 || got["local engine"] != "removed" || got["h3"] != "removed" {
		t.Errorf("prune: %v, want removed on h2, h3 and the local engine", got)
	}
	for _, h := range l.Hosts {
		if hasImage(t, h.Name, w1) {
			t.Errorf("%s still has %s", h.Name, w1)
		}
	}
	if !hasImage(t, "h1", "drover-test/app:v1") {
		t.Error("prune removed an image drover did not build from the local engine")
	}
}

// TestBuildOnUnchangedContext: with build_on (the inventory's build.on:
// h1), a second build of an unchanged context sends nothing and builds
// nothing: h1's image of the same context digest is reused; a changed
// file is sent and built; no_cache always builds.
func TestBuildOnUnchangedContext(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2ebuildctx"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	b, _ := os.ReadFile(inv)
	os.WriteFile(inv, append(b, []byte("build:\n  on: h1\n")...), 0o644)
	dir := buildProject(t, "")
	file := filepath.Join(dir, "web.yml")
	os.WriteFile(file, []byte("services:\n  web:\n    build: ./web\n    deploy: {replicas: 2, update_config: {parallelism: 2, monitor: 1s}}\n"), 0o644)
	// builtOnH1 lists h1's images of the service, each as "ID TAGS…"
	// (its repository's ID tag and the ctx- tag of its inputs), and checks
	// that none carries a context label: that would count in the ID.
	builtOnH1 := func() []string {
		rows := hostDocker(t, "h1", "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}", "--filter", "label=drover.cluster="+testCluster(t), "--filter", "label=drover.service="+stack+"_web")
		tags := map[string][]string{}
		for _, l := range strings.Split(strings.TrimSpace(rows), "\n") {
			if f := strings.Fields(l); len(f) == 2 {
				tags[f[0]] = append(tags[f[0]], f[1])
			}
		}
		var out []string
		for id, ts := range tags {
			if labels := hostDocker(t, "h1", "image", "inspect", "--format", "{{json .Config.Labels}}", id); strings.Contains(labels, "context") {
				t.Fatalf("h1's image %s has a context label: %s", id, labels)
			}
			sort.Strings(ts)
			out = append(out, id+" "+strings.Join(ts, ","))
		}
		sort.Strings(out)
		return out
	}
	ctxTagged := func(imgs []string) int {
		n := 0
		for _, im := range imgs {
			if strings.Contains(im, ":ctx-") {
				n++
			}
		}
		return n
	}

	start := time.Now()
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "--build", "-c", file, stack)
	first := time.Since(start)
	if code != 0 || !strings.Contains(stderr, "build context sent") || strings.Contains(stderr, "unchanged context") {
		t.Fatalf("first deploy --build: exit %d\n%s", code, stderr)
	}
	sent := regexp.MustCompile(`bytes=(\d+)`).FindStringSubmatch(stderr[strings.Index(stderr, "build context sent"):])
	imgs := builtOnH1()
	if len(imgs) != 1 || ctxTagged(imgs) != 1 {
		t.Fatalf("h1's images of the service: %v, want one, tagged with its context digest (ctx-)", imgs)
	}
	firstID := strings.Fields(imgs[0])[0]

	start = time.Now()
	out, stderr, code := runDrover(t, inv, "-o", "json", "build", "-c", file, "--stack", stack)
	again := time.Since(start)
	var res []struct {
		Service, Image, ID, On string
		Reused                 bool
		Seconds                float64
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || len(res) != 1 || !res[0].Reused || res[0].On != "h1" || res[0].ID != firstID {
		t.Fatalf("drover build of the unchanged context: exit %d %v %+v (want %s reused)", code, err, res, firstID)
	}
	if !strings.Contains(stderr, "unchanged context: image "+res[0].Image+" reused") || strings.Contains(stderr, "build context sent") {
		t.Errorf("unchanged context: the output does not say it was reused, or something was sent:\n%s", stderr)
	}
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "--detailed-exitcode", "-c", file, stack)
	if code != 0 || strings.Contains(stderr, "build context sent") {
		t.Errorf("unchanged deploy --build: exit %d (want 0), or a context was sent:\n%s", code, stderr)
	}
	if got := builtOnH1(); strings.Join(got, " ") != strings.Join(imgs, " ") {
		t.Errorf("h1's images after the reuse: %v, want %v", got, imgs)
	}
	t.Logf("measured: first deploy --build %s (context %s bytes sent); unchanged drover build %s (image reused in %.2fs, nothing sent)",
		first.Round(time.Millisecond), sent[1], again.Round(time.Millisecond), res[0].Seconds)

	// A changed file the Dockerfile does not copy: sent and built, and
	// the builder's cache gives the same image (the digest is a tag, not
	// a label), now tagged with both digests: no rollout.
	os.WriteFile(filepath.Join(dir, "web", "notes.txt"), []byte("changed\n"), 0o644)
	_, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "--detailed-exitcode", "-c", file, stack)
	if code != 0 || !strings.Contains(stderr, "build context sent") || strings.Contains(stderr, "unchanged context") {
		t.Errorf("deploy --build of a context changed in a file the image does not hold: exit %d (want 0: no rollout)\n%s", code, stderr)
	}
	if got := builtOnH1(); len(got) != 1 || strings.Count(got[0], ":ctx-") != 2 || strings.Fields(got[0])[0] != firstID {
		t.Errorf("h1's images after the change: %v, want the same image %s, tagged with both context digests", got, firstID)
	}

	// no_cache: always sent and built.
	nc := filepath.Join(dir, "nocache.yml")
	os.WriteFile(nc, []byte("services:\n  web:\n    build: {context: ./web, no_cache: true}\n"), 0o644)
	_, stderr, code = runDrover(t, inv, "build", "-c", nc, "--stack", stack)
	if code != 0 || !strings.Contains(stderr, "build context sent") {
		t.Errorf("no_cache build: exit %d\n%s", code, stderr)
	}
}
