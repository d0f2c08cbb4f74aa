package imagebuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine/enginetest"
)

func contextDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Dockerfile": "FROM scratch\nCOPY app /app\n", "app": "binary v1", ".dockerignore": "*.log\n", "debug.log": "noise",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestContextDigest: the digest follows what the build depends on — a
// file's content, an ignored file does not count, nor a file's time —
// and the build options.
func TestContextDigest(t *testing.T) {
	dir := contextDir(t)
	base := &cluster.Build{Context: dir, Args: map[string]string{"A": "1"}}
	labels := map[string]string{LabelCluster: "c", LabelService: "s_web"}
	digest := func(b *cluster.Build, labels map[string]string) string {
		t.Helper()
		d, err := ContextDigest(b, "Dockerfile", labels)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d0 := digest(base, labels)
	if !strings.HasPrefix(d0, "sha256:") || len(d0) != 71 {
		t.Fatalf("digest %q", d0)
	}
	same := func(what string) {
		t.Helper()
		if d := digest(base, labels); d != d0 {
			t.Errorf("%s changed the digest", what)
		}
	}
	differs := func(what string, b *cluster.Build, l map[string]string) {
		t.Helper()
		if d := digest(b, l); d == d0 {
			t.Errorf("%s did not change the digest", what)
		}
	}
	os.Chtimes(filepath.Join(dir, "app"), time.Unix(1e9, 0), time.Unix(1e9, 0))
	same("a file's time")
	os.WriteFile(filepath.Join(dir, "debug.log"), []byte("other noise"), 0o644)
	same("an ignored file")
	with := func(f func(b *cluster.Build)) *cluster.Build {
		cp := *base
		f(&cp)
		return &cp
	}
	differs("an arg value", with(func(b *cluster.Build) { b.Args = map[string]string{"A": "2"} }), labels)
	differs("the target", with(func(b *cluster.Build) { b.Target = "prod" }), labels)
	differs("the platform", with(func(b *cluster.Build) { b.Platforms = []string{"linux/arm64"} }), labels)
	differs("the inline Dockerfile", with(func(b *cluster.Build) { b.DockerfileInline = "FROM scratch\n" }), labels)
	differs("a label", base, map[string]string{LabelCluster: "c", LabelService: "s_api"})
	os.WriteFile(filepath.Join(dir, "app"), []byte("binary v2"), 0o644)
	differs("a file's content", base, labels)
}

// TestRemoteReusesUnchangedContext: on the fake engine, the first build
// sends the context and tags the image REPOSITORY:ctx-DIGEST (no label:
// it would change the ID); the second finds that tag in GET /images/json
// and sends nothing; a changed file and no_cache build again.
func TestRemoteReusesUnchangedContext(t *testing.T) {
	c := enginetest.NewCluster(1)
	defer c.Close()
	h := c.Host("h1")
	var outcomes []ContextOutcome
	// The fake engine serves no BuildKit session: the classic builder.
	classic := func(k string) (string, bool) { return "0", k == "DOCKER_BUILDKIT" }
	r := &Remote{Host: "h1", Engine: c.Engine("h1"), LookupEnv: classic, Context: func(o ContextOutcome) { outcomes = append(outcomes, o) }}
	dir := contextDir(t)
	b := &cluster.Build{Context: dir, Repository: "s_web"}
	labels := map[string]string{LabelCluster: "test", LabelService: "s_web"}
	ctx := context.Background()

	id1, _, err := r.Build(ctx, "s_web", b, labels, nil)
	if err != nil {
		t.Fatal(err)
	}
	builds := h.Builds()
	if len(builds) != 1 || builds[0].ContextBytes == 0 {
		t.Fatalf("first build: %+v", builds)
	}
	for k := range builds[0].Labels {
		if k != LabelCluster && k != LabelService {
			t.Errorf("the build was given label %s: a label of the context would change the image ID", k)
		}
	}
	if len(outcomes) != 1 || outcomes[0].Reused != "" || outcomes[0].Bytes == 0 || !strings.HasPrefix(outcomes[0].Digest, "sha256:") {
		t.Fatalf("first outcome %+v", outcomes)
	}
	tag := ContextTag("s_web", outcomes[0].Digest)
	if f, ok, err := c.Engine("h1").ImageFacts(ctx, tag); err != nil || !ok || f.ID != id1 {
		t.Errorf("the context tag %s names %+v (%v, %v), want %s", tag, f, ok, err, id1)
	}

	h.ResetCounters()
	id2, _, err := r.Build(ctx, "s_web", b, labels, nil)
	if err != nil || id2 != id1 {
		t.Fatalf("second build: %s, %v; want %s reused", id2, err, id1)
	}
	if n := len(h.Builds()); n != 1 {
		t.Errorf("the unchanged context was built again (%d builds)", n)
	}
	reqs := strings.Join(h.Requests(), "\n")
	if !strings.Contains(reqs, "GET /images/json?filters=") || strings.Contains(reqs, "/build") {
		t.Errorf("requests of the reuse:\n%s", reqs)
	}
	if o := outcomes[1]; o.Reused != id1 || o.Bytes != 0 {
		t.Errorf("second outcome %+v", o)
	}

	// Another service's image of the same context is not its to reuse.
	other := map[string]string{LabelCluster: "test", LabelService: "s_api"}
	if _, _, err := r.Build(ctx, "s_api", b, other, nil); err != nil || len(h.Builds()) != 2 {
		t.Errorf("s_api: %v, %d builds (want its own)", err, len(h.Builds()))
	}

	os.WriteFile(filepath.Join(dir, "app"), []byte("binary v2"), 0o644)
	id3, _, err := r.Build(ctx, "s_web", b, labels, nil)
	if err != nil || id3 == id1 || len(h.Builds()) != 3 {
		t.Errorf("changed file: %s, %v, %d builds", id3, err, len(h.Builds()))
	}
	nc := *b
	nc.NoCache = true
	if _, _, err := r.Build(ctx, "s_web", &nc, labels, nil); err != nil || len(h.Builds()) != 4 {
		t.Errorf("no_cache: %v, %d builds (want a build)", err, len(h.Builds()))
	}
}
