package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestTag(t *testing.T) {
	id := "sha256:f768cf075dbec30deb11e48c681b2556f5ea19291d1d7faf69b7815a28f99d62"
	if got := Ref("shop_web", id); got != "shop_web:f768cf075dbe" {
		t.Errorf("Ref = %q", got)
	}
}

func TestLocalArgs(t *testing.T) {
	b := &cluster.Build{
		Context: "/src/web", Dockerfile: "Dockerfile.prod", Args: map[string]string{"TOKEN": "s3cret", "A": "1"},
		Target: "prod", Labels: map[string]string{"team": "a"}, CacheFrom: []string{"x"}, CacheTo: []string{"type=inline"},
		NoCache: true, Network: "host", ExtraHosts: []string{"db:10.0.0.5"}, Platforms: []string{"linux/amd64"},
		Secrets: []cluster.BuildSecret{{ID: "npmrc", File: "/s/npmrc"}, {ID: "tok", Env: "TOK"}}, SSH: []string{"default"},
	}
	labels := map[string]string{LabelService: "shop_web"}
	classic, err := localArgs(b, false, "/tmp/iid", labels)
	if err != nil {
		t.Fatal(err)
	}
	want := "build --iidfile /tmp/iid -f /src/web/Dockerfile.prod --build-arg A --build-arg TOKEN --target prod --label drover.service=shop_web --label team=a --cache-from x --no-cache --network host --add-host db:10.0.0.5 --platform linux/amd64 /src/web"
	if got := strings.Join(classic.args, " "); got != want {
		t.Errorf("classic argv:\n got %s\nwant %s", got, want)
	}
	if !slices.Equal(classic.env, []string{"DOCKER_BUILDKIT=0", "A=1", "TOKEN=s3cret"}) {
		t.Errorf("classic env %v", classic.env)
	}
	for _, a := range classic.args {
		if strings.Contains(a, "s3cret") {
			t.Errorf("a build arg value in argv: %v", classic.args)
		}
	}
	if len(classic.warnings) != 3 {
		t.Errorf("classic warnings (cache_to, secrets, ssh): %v", classic.warnings)
	}
	bk, err := localArgs(b, true, "/tmp/iid", labels)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bk.args, " ")
	for _, w := range []string{"buildx build --load ", "--cache-to type=inline", "--secret id=npmrc,src=/s/npmrc", "--secret id=tok,env=TOK", "--ssh default"} {
		if !strings.Contains(got, w) {
			t.Errorf("buildkit argv lacks %q: %s", w, got)
		}
	}
	if len(bk.warnings) != 0 || slices.Contains(bk.env, "DOCKER_BUILDKIT=0") {
		t.Errorf("buildkit: warnings %v env %v", bk.warnings, bk.env)
	}
	b.Platforms = []string{"linux/amd64", "linux/arm64"}
	if _, err := localArgs(b, true, "/tmp/iid", nil); err == nil {
		t.Error("several platforms: want an error")
	}
	inline, _ := localArgs(&cluster.Build{Context: "/c", DockerfileInline: "FROM scratch"}, false, "/i", nil)
	if got := strings.Join(inline.args, " "); got != "build --iidfile /i -f - /c" {
		t.Errorf("inline argv %s", got)
	}
}

func TestIgnore(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(".dockerignore", "# comment\n*.log\nnode_modules\n**/secret.txt\ndocs/*\n!docs/keep.md\nDockerfile\n")
	write("Dockerfile", "FROM scratch\n")
	write("app", "bin")
	write("a.log", "x")
	write("node_modules/x/y.js", "x")
	write("src/deep/secret.txt", "x")
	write("src/main.go", "x")
	write("docs/drop.md", "x")
	write("docs/keep.md", "x")
	var buf bytes.Buffer
	if err := writeContext(&buf, dir, "Dockerfile", "FROM scratch\nCOPY app /\n", false); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
		}
	}
	slices.Sort(names)
	want := []string{".dockerignore", InlineDockerfile, "Dockerfile", "app", "docs/keep.md", "src/main.go"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("context files %v, want %v", names, want)
	}
}

// fakeBuilder records builds and tags.
type fakeBuilder struct {
	ids  map[string]string // service → ID
	fail string
	tags []string
	plat []string // build.platforms of each build
}

func (f *fakeBuilder) Describe() string { return "fake" }
func (f *fakeBuilder) Build(_ context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error) {
	out("Step 1/1")
	f.plat = append(f.plat, strings.Join(b.Platforms, ","))
	if svc == f.fail {
		return "", nil, &BuildError{Service: svc, Builder: "fake", Lines: []string{"Step 1/1", "COPY failed"}, Err: errors.New("exit status 1")}
	}
	if labels[LabelService] != svc {
		return "", nil, errors.New("no service label")
	}
	return f.ids[svc], []string{"w"}, nil
}
func (f *fakeBuilder) Platform(context.Context) cluster.Platform {
	return cluster.Platform{OS: "linux", Arch: "amd64"}
}
func (f *fakeBuilder) Tag(_ context.Context, id, ref string) error {
	f.tags = append(f.tags, ref)
	return nil
}

func TestRun(t *testing.T) {
	builds := map[string]*cluster.Build{
		"web": {Repository: "s_web"},
		"api": {Repository: "team/api", On: "h1"},
	}
	fb := &fakeBuilder{ids: map[string]string{"s_web": "sha256:aaaaaaaaaaaa1111", "s_api": "sha256:bbbbbbbbbbbb2222"}}
	var ons []string
	var warned []string
	res, err := Run(context.Background(), "s", builds, nil, Options{
		Cluster:    "c",
		BuilderFor: func(on string) (Builder, error) { ons = append(ons, on); return fb, nil },
		Warn:       func(svc, msg string) { warned = append(warned, svc) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Image != "team/api:bbbbbbbbbbbb" || res[0].On != "h1" || res[1].Image != "s_web:aaaaaaaaaaaa" {
		t.Errorf("results %+v", res)
	}
	ons = nil
	res, _ = Run(context.Background(), "s", builds, nil, Options{DefaultOn: "h3", BuilderFor: func(on string) (Builder, error) { ons = append(ons, on); return fb, nil }})
	if !slices.Equal(ons, []string{"h1", "h3"}) || res[1].On != "h3" {
		t.Errorf("default build host: builders %v, results %+v", ons, res)
	}
	if !slices.Equal(fb.tags[:2], []string{"team/api:bbbbbbbbbbbb", "s_web:aaaaaaaaaaaa"}) || len(warned) != 2 {
		t.Errorf("builders %v tags %v warned %v", ons, fb.tags, warned)
	}
	fb.fail = "s_api"
	fb.tags = nil
	_, err = Run(context.Background(), "s", builds, nil, Options{BuilderFor: func(string) (Builder, error) { return fb, nil }})
	var be *BuildError
	if !errors.As(err, &be) || be.Service != "s_api" || !strings.Contains(err.Error(), "COPY failed") || len(fb.tags) != 0 {
		t.Errorf("failed build: %v (tags %v)", err, fb.tags)
	}
	if _, err := Run(context.Background(), "s", builds, []string{"db"}, Options{}); err == nil || !strings.Contains(err.Error(), "service db: no build: section") {
		t.Errorf("unknown service: %v", err)
	}
}

// fakeDocker answers the probe as a machine without an engine.
type fakeDocker struct{ stderr string }

func (f fakeDocker) Run(_ context.Context, args, _ []string, _ io.Reader, _, stderr io.Writer) error {
	io.WriteString(stderr, f.stderr)
	return errors.New("exit status 1")
}

func TestNoLocalEngine(t *testing.T) {
	l := &Local{Docker: fakeDocker{stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"}, Where: "the default socket"}
	_, _, err := l.Build(context.Background(), "s_web", &cluster.Build{Context: "."}, nil, nil)
	if !errors.Is(err, ErrNoLocalEngine) || !strings.Contains(err.Error(), "build_on") || !strings.Contains(err.Error(), "Cannot connect") {
		t.Errorf("no engine: %v", err)
	}
}

// TestRunBuildsForNodes: a service whose nodes are all arm64 is built for
// arm64 by an amd64 builder; mixed nodes give a warning; build.platforms
// wins and is not changed in the stack.
func TestRunBuildsForNodes(t *testing.T) {
	arm := cluster.Platform{OS: "linux", Arch: "arm64"}
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	builds := map[string]*cluster.Build{"a": {Repository: "s_a"}, "b": {Repository: "s_b"}, "c": {Repository: "s_c", Platforms: []string{"linux/amd64"}}}
	fb := &fakeBuilder{ids: map[string]string{"s_a": "sha256:1", "s_b": "sha256:2", "s_c": "sha256:3"}}
	var warned []string
	_, err := Run(context.Background(), "s", builds, nil, Options{
		BuilderFor: func(string) (Builder, error) { return fb, nil },
		Warn:       func(svc, msg string) { warned = append(warned, svc+": "+msg) },
		NodePlatforms: func(svc string) []cluster.Platform {
			return map[string][]cluster.Platform{"a": {arm}, "b": {amd, arm}, "c": {arm}}[svc]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fb.plat, " "); got != "linux/arm64  linux/amd64" {
		t.Errorf("built for %q", got)
	}
	if len(builds["a"].Platforms) != 0 {
		t.Error("the stack's build was changed")
	}
	n := 0
	for _, w := range warned {
		if strings.HasPrefix(w, "s_b: the service may run on nodes of linux/amd64, linux/arm64") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("warnings %q", warned)
	}
}
