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
	"github.com/drover-sh/drover/engine"
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
		NoCache: true, Network: "host", ExtraHosts: []string{"db:10.0.0.5"}, Platforms: []string{"linux/amd64"}, ShmSize: 1 << 26,
		Secrets: []cluster.BuildSecret{{ID: "npmrc", File: "/s/npmrc"}, {ID: "tok", Env: "TOK"}}, SSH: []string{"default"},
	}
	labels := map[string]string{LabelService: "shop_web"}
	common := " --build-arg A --build-arg TOKEN --target prod --label drover.service=shop_web --label team=a --cache-from x --no-cache --network host --add-host db:10.0.0.5"
	for _, c := range []struct {
		caps     localCaps
		argv     string
		env      []string
		warnings []string // the keys warned about
	}{
		{localCaps{Kind: Classic, Why: "install docker buildx for BuildKit"},
			"build --iidfile /tmp/iid -f /src/web/Dockerfile.prod" + common + " --shm-size 67108864 --platform linux/amd64 /src/web",
			[]string{"DOCKER_BUILDKIT=0", "A=1", "TOKEN=s3cret"},
			[]string{"cache_to", "secrets", "ssh"}},
		{localCaps{Kind: BuildKit},
			"build --progress plain --iidfile /tmp/iid -f /src/web/Dockerfile.prod" + common + " --platform linux/amd64 --secret id=npmrc,src=/s/npmrc --secret id=tok,env=TOK --ssh default /src/web",
			[]string{"DOCKER_BUILDKIT=1", "A=1", "TOKEN=s3cret"},
			[]string{"cache_to", "shm_size"}},
		{localCaps{Kind: Buildx},
			"buildx build --load --progress plain --iidfile /tmp/iid -f /src/web/Dockerfile.prod" + strings.Replace(common, " --no-cache", " --cache-to type=inline --no-cache", 1) + " --shm-size 67108864 --platform linux/amd64 --secret id=npmrc,src=/s/npmrc --secret id=tok,env=TOK --ssh default /src/web",
			[]string{"A=1", "TOKEN=s3cret"},
			nil},
	} {
		inv, err := localArgs(b, c.caps, "/tmp/iid", labels)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(inv.args, " "); got != c.argv {
			t.Errorf("%s argv:\n got %s\nwant %s", c.caps.Kind, got, c.argv)
		}
		if !slices.Equal(inv.env, c.env) {
			t.Errorf("%s env %v, want %v", c.caps.Kind, inv.env, c.env)
		}
		for _, a := range inv.args {
			if strings.Contains(a, "s3cret") {
				t.Errorf("%s: a build arg value in argv: %v", c.caps.Kind, inv.args)
			}
		}
		var keys []string
		for _, w := range inv.warnings {
			k, _, _ := strings.Cut(strings.TrimPrefix(w, "key build."), " ")
			keys = append(keys, k)
			if c.caps.Why != "" && !strings.Contains(w, c.caps.Why) {
				t.Errorf("%s warning %q does not say why (%s)", c.caps.Kind, w, c.caps.Why)
			}
		}
		if !slices.Equal(keys, c.warnings) {
			t.Errorf("%s warnings %q, want keys %v", c.caps.Kind, inv.warnings, c.warnings)
		}
	}
	b.Platforms = []string{"linux/amd64", "linux/arm64"}
	if _, err := localArgs(b, localCaps{Kind: Buildx}, "/tmp/iid", nil); err == nil {
		t.Error("several platforms: want an error")
	}
	inline, _ := localArgs(&cluster.Build{Context: "/c", DockerfileInline: "FROM scratch"}, localCaps{Kind: Classic}, "/i", nil)
	if got := strings.Join(inline.args, " "); got != "build --iidfile /i -f - /c" {
		t.Errorf("inline argv %s", got)
	}
}

// scriptDocker answers docker commands by their first words, and records
// the environment of each.
type scriptDocker struct {
	answers map[string]string // "buildx version" → stdout; a missing key fails
	calls   []string
	envs    [][]string
}

func (d *scriptDocker) Run(_ context.Context, args, env []string, _ io.Reader, stdout, _ io.Writer) error {
	d.calls = append(d.calls, strings.Join(args, " "))
	d.envs = append(d.envs, env)
	for k, v := range d.answers {
		if strings.HasPrefix(strings.Join(args, " "), k) {
			io.WriteString(stdout, v)
			return nil
		}
	}
	return errors.New("exit status 1")
}

// TestProbe: buildx first, then the CLI's own BuildKit (its build --help
// offers --secret, with DOCKER_BUILDKIT=1), then classic; the user's
// DOCKER_BUILDKIT=0 means classic; an engine without BuildKit is classic.
// The probe runs once.
func TestProbe(t *testing.T) {
	const help20 = "      --secret stringArray      Secret file to expose to the build (only if BuildKit enabled)\n"
	version := map[string]string{"version": "linux/amd64 1.41\n"}
	with := func(m map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range version {
			out[k] = v
		}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	for _, c := range []struct {
		name    string
		answers map[string]string
		env     map[string]string
		want    Kind
		why     string
	}{
		{"buildx", with(map[string]string{"buildx version": "github.com/docker/buildx v0.12.1", "build --help": help20}), nil, Buildx, ""},
		{"cli 20.10", with(map[string]string{"build --help": help20}), nil, BuildKit, ""},
		{"cli 23+ without buildx", version, nil, Classic, "install docker buildx"},
		{"DOCKER_BUILDKIT=0", with(map[string]string{"buildx version": "v0.12.1", "build --help": help20}), map[string]string{"DOCKER_BUILDKIT": "0"}, Classic, "DOCKER_BUILDKIT=0"},
		{"DOCKER_BUILDKIT=1", with(map[string]string{"build --help": help20}), map[string]string{"DOCKER_BUILDKIT": "1"}, BuildKit, ""},
		{"old engine", map[string]string{"version": "linux/amd64 1.38", "build --help": help20}, nil, Classic, "has no BuildKit"},
		{"windows engine", map[string]string{"version": "windows/amd64 1.41", "build --help": help20}, nil, Classic, "has no BuildKit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &scriptDocker{answers: c.answers}
			l := &Local{Docker: d, Where: "DOCKER_HOST=unix:///x", LookupEnv: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }}
			k, err := l.Kind(context.Background(), "s_web")
			if err != nil {
				t.Fatal(err)
			}
			k2, _ := l.Kind(context.Background(), "s_web")
			if k != c.want || k2 != k || !strings.Contains(l.caps.Why, c.why) {
				t.Errorf("kind %s (then %s), why %q; want %s, %q", k, k2, l.caps.Why, c.want, c.why)
			}
			if l.caps.Platform != strings.Fields(c.answers["version"])[0] {
				t.Errorf("platform %q", l.caps.Platform)
			}
			n := len(d.calls)
			l.Kind(context.Background(), "s_web")
			if len(d.calls) != n || n > 3 {
				t.Errorf("probed with %d commands, then again: %v", n, d.calls)
			}
			for i, call := range d.calls {
				if call == "build --help" && !slices.Equal(d.envs[i], []string{"DOCKER_BUILDKIT=1"}) {
					t.Errorf("build --help ran with env %v, want DOCKER_BUILDKIT=1", d.envs[i])
				}
			}
			if !strings.Contains(l.Describe(), c.want.describe()) {
				t.Errorf("Describe() = %q does not name %s", l.Describe(), c.want)
			}
		})
	}
}

// TestLocalBuildKit runs a build through a fake docker that prints
// BuildKit's plain output and fails: the tail keeps the useful lines, a
// secret's value printed by a RUN is redacted, the env secret is not in
// argv nor in docker's extra env, and an unset variable is refused.
func TestLocalBuildKit(t *testing.T) {
	out := `#1 [internal] load build definition from Dockerfile
#1 sha256:74353c5bee3c4a301450a65c68fe83f739601b4429e0ec2dce0ee7ebdb440171
#1 transferring dockerfile: 2B done
#1 DONE 0.1s

#5 [app 2/2] RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok
#5 sha256:b4216c040dbebbbc2d6dc4fa533cda75bc994800847ae88f78c1bd1eee2e636f
#5 CACHED

#6 [bad 1/1] RUN cat /run/secrets/tok; exit 3
#6 sha256:a2d3ae8600af0a1bd6f016a2db151ed583d9a44b9528e49b77e8c4b89054b1f9
#6 0.443 the token is hunter2-token
#6 ERROR: executor failed running [/bin/sh -c cat /run/secrets/tok; exit 3]: exit code: 3
------
 > [bad 1/1] RUN cat /run/secrets/tok; exit 3:
------
executor failed running [/bin/sh -c cat /run/secrets/tok; exit 3]: exit code: 3
`
	d := &failDocker{scriptDocker: scriptDocker{answers: map[string]string{"version": "linux/amd64 1.41", "build --help": "--secret"}}, out: out}
	env := map[string]string{"TOK": "hunter2-token"}
	l := &Local{Docker: d, Where: "DOCKER_HOST=unix:///x", LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	b := &cluster.Build{Context: t.TempDir(), Target: "bad", Secrets: []cluster.BuildSecret{{ID: "tok", Env: "TOK"}}}
	var shown []string
	_, _, err := l.Build(context.Background(), "s_web", b, nil, func(line string) { shown = append(shown, line) })
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("want a BuildError, got %v", err)
	}
	want := []string{
		"#1 [internal] load build definition from Dockerfile",
		"#5 [app 2/2] RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok",
		"#6 [bad 1/1] RUN cat /run/secrets/tok; exit 3",
		"#6 the token is [redacted]",
		"#6 ERROR: executor failed running [/bin/sh -c cat /run/secrets/tok; exit 3]: exit code: 3",
		"executor failed running [/bin/sh -c cat /run/secrets/tok; exit 3]: exit code: 3",
	}
	if !slices.Equal(be.Lines, want) {
		t.Errorf("last lines:\n%s\nwant\n%s", strings.Join(be.Lines, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(err.Error(), "with the local engine (DOCKER_HOST=unix:///x, BuildKit built into the docker CLI)") {
		t.Errorf("error does not name the builder: %v", err)
	}
	for _, l := range append(shown, err.Error()) {
		if strings.Contains(l, "hunter2") {
			t.Errorf("the secret's value shown: %q", l)
		}
	}
	build := d.calls[len(d.calls)-1]
	benv := d.envs[len(d.envs)-1]
	if !strings.Contains(build, "--secret id=tok,env=TOK") || strings.Contains(build+strings.Join(benv, " "), "hunter2") {
		t.Errorf("build %q env %v: want the secret by name only", build, benv)
	}

	delete(env, "TOK")
	_, _, err = l.Build(context.Background(), "s_web", b, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "environment variable TOK is not set") {
		t.Errorf("unset secret variable: %v", err)
	}
}

// failDocker is a scriptDocker whose builds print out and fail.
type failDocker struct {
	scriptDocker
	out string
}

func (d *failDocker) Run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[0] == "build" && args[1] != "--help" {
		d.calls = append(d.calls, strings.Join(args, " "))
		d.envs = append(d.envs, env)
		io.WriteString(stderr, d.out)
		return errors.New("exit status 1")
	}
	return d.scriptDocker.Run(ctx, args, env, stdin, stdout, stderr)
}

func TestTailLineClassic(t *testing.T) {
	for _, l := range []string{"Step 2/4 : COPY nope /nope", " ---> Running in 1234", "#5 is a comment"} {
		if got, ok := tailLine(l, Classic); !ok || got != l {
			t.Errorf("classic %q → %q %v", l, got, ok)
		}
	}
	if got, ok := tailLine("#12 3.5 hello", Buildx); !ok || got != "#12 hello" {
		t.Errorf("buildx output line → %q %v", got, ok)
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
	// ids by platform asked for (service/platform → ID) win over ids.
	byPlatform map[string]string
	recorded   map[string]cluster.Platform // ID → the platform its config says
	fixed      []string                    // SetPlatform calls: ID>platform
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
	if id, ok := f.byPlatform[svc+"/"+strings.Join(b.Platforms, ",")]; ok {
		return id, []string{"w"}, nil
	}
	return f.ids[svc], []string{"w"}, nil
}
func (f *fakeBuilder) Image(_ context.Context, id string) (engine.ImageFacts, error) {
	if p, ok := f.recorded[id]; ok {
		return engine.ImageFacts{ID: id, Platform: p}, nil
	}
	return engine.ImageFacts{ID: id, Platform: cluster.Platform{OS: "linux", Arch: "amd64"}}, nil
}
func (f *fakeBuilder) SetPlatform(_ context.Context, id string, p cluster.Platform) (string, error) {
	f.fixed = append(f.fixed, id+">"+p.String())
	return id + "-" + p.Arch, nil
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
// arm64 by an amd64 builder; mixed nodes give one build per platform;
// build.platforms wins and is not changed in the stack.
func TestRunBuildsForNodes(t *testing.T) {
	arm := cluster.Platform{OS: "linux", Arch: "arm64"}
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	builds := map[string]*cluster.Build{"a": {Repository: "s_a"}, "b": {Repository: "s_b"}, "c": {Repository: "s_c", Platforms: []string{"linux/amd64"}}}
	fb := &fakeBuilder{ids: map[string]string{"s_a": "sha256:1", "s_c": "sha256:3"},
		byPlatform: map[string]string{"s_b/linux/amd64": "sha256:2a", "s_b/linux/arm64": "sha256:2b"},
		recorded:   map[string]cluster.Platform{"sha256:1": arm, "sha256:2b": arm}}
	var warned []string
	res, err := Run(context.Background(), "s", builds, nil, Options{
		BuilderFor: func(string) (Builder, error) { return fb, nil },
		Warn:       func(svc, msg string) { warned = append(warned, svc+": "+msg) },
		NodePlatforms: func(svc string) []cluster.Platform {
			return map[string][]cluster.Platform{"a": {arm}, "b": {amd, arm}, "c": {amd}}[svc]
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(fb.plat, " "); got != "linux/arm64 linux/amd64 linux/arm64 linux/amd64" {
		t.Errorf("built for %q", got)
	}
	if len(builds["a"].Platforms) != 0 {
		t.Error("the stack's build was changed")
	}
	if len(fb.fixed) != 0 {
		t.Errorf("platforms set: %v", fb.fixed)
	}
	b := res[1]
	wantID := SetID([]Variant{{Platform: "linux/arm64", ID: "sha256:2b"}, {Platform: "linux/amd64", ID: "sha256:2a"}})
	if !b.Multi() || b.ID != wantID || b.Image != "s_b:"+Tag(wantID) || len(b.Variants) != 2 ||
		b.Variants[0] != (Variant{Platform: "linux/amd64", ID: "sha256:2a", Image: "s_b:2a", Seconds: b.Variants[0].Seconds}) ||
		b.Variants[1].Platform != "linux/arm64" || b.Variants[1].Image != "s_b:2b" {
		t.Errorf("multi-platform result %+v", b)
	}
	// Each variant under its own ID's tag, the set's tag on the builder's
	// own platform's variant.
	if !slices.Equal(fb.tags, []string{"s_a:1", "s_b:2a", "s_b:2b", "s_b:" + Tag(wantID), "s_c:3"}) {
		t.Errorf("tags %q", fb.tags)
	}
	if res[0].Multi() || res[0].Image != "s_a:1" || res[0].Variants[0].Platform != "linux/arm64" {
		t.Errorf("one platform %+v", res[0])
	}
	if len(warned) != 3 { // the fake's "w" once per service
		t.Errorf("warnings %q", warned)
	}
}

// fakeEngine is a build host's engine: it records the BuildKit build and
// prints lines, failing when fail is set.
type fakeEngine struct {
	os      string
	src     engine.BuildKitSource
	opt     engine.BuildOptions
	inline  string // the Dockerfile it was served, when inline
	classic bool
	fail    bool
}

func (f *fakeEngine) Build(context.Context, io.Reader, engine.BuildOptions, func(string)) (string, error) {
	f.classic = true
	return "sha256:c1a551c", nil
}

func (f *fakeEngine) BuildKit(_ context.Context, src engine.BuildKitSource, o engine.BuildOptions, out func(string)) (string, int64, error) {
	f.src, f.opt = src, o
	if b, err := os.ReadFile(filepath.Join(src.DockerfileDir, o.Dockerfile)); err == nil {
		f.inline = string(b)
	}
	out("#1 [app 1/1] RUN cat /run/secrets/tok")
	out("#1 the token is hunter2-token")
	if f.fail {
		return "", 0, &engine.BuildFailedError{Host: "h2", Message: "exit code: 1 (hunter2-token)"}
	}
	return "sha256:b17d", 1234, nil
}

func (f *fakeEngine) Info(context.Context) (engine.Facts, error) { return engine.Facts{OS: f.os}, nil }

// TestRemoteBuildKit: a Linux host builds with BuildKit, served the
// context and Dockerfile directories, the secrets by name and the ssh
// agents; output and errors are redacted; DOCKER_BUILDKIT=0 or a
// non-Linux engine is the classic builder, which warns about secrets.
func TestRemoteBuildKit(t *testing.T) {
	ctxDir := t.TempDir()
	env := map[string]string{"TOK": "hunter2-token"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	b := &cluster.Build{Context: ctxDir, Dockerfile: "docker/Dockerfile.prod", Target: "app", CacheTo: []string{"type=inline"}, ShmSize: 1 << 20,
		Secrets: []cluster.BuildSecret{{ID: "tok", Env: "TOK"}}, SSH: []string{"default", "deploy=/k/a,/k/b"}}
	fe := &fakeEngine{os: "linux"}
	r := &Remote{Host: "h2", Engine: fe, LookupEnv: lookup}
	var shown []string
	id, warnings, err := r.Build(context.Background(), "s_web", b, map[string]string{LabelService: "s_web"}, func(l string) { shown = append(shown, l) })
	if err != nil || id != "sha256:b17d" || fe.classic {
		t.Fatalf("id %q err %v classic %v", id, err, fe.classic)
	}
	if fe.src.ContextDir != ctxDir || fe.src.DockerfileDir != filepath.Join(ctxDir, "docker") || fe.opt.Dockerfile != "Dockerfile.prod" ||
		fe.opt.Target != "app" || fe.opt.Labels[LabelService] != "s_web" {
		t.Errorf("served %+v with %+v", fe.src, fe.opt)
	}
	if !slices.Equal(fe.src.Secrets, []engine.BuildKitSecret{{ID: "tok", Env: "TOK"}}) || !slices.Equal(fe.src.SSH, b.SSH) {
		t.Errorf("secrets %v ssh %v", fe.src.Secrets, fe.src.SSH)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "cache_to") || !strings.Contains(warnings[1], "shm_size") {
		t.Errorf("warnings %q", warnings)
	}
	if r.Describe() != "host h2 (BuildKit)" || strings.Contains(strings.Join(shown, "\n"), "hunter2") {
		t.Errorf("describe %q, shown %q", r.Describe(), shown)
	}

	fe.fail = true
	_, _, err = r.Build(context.Background(), "s_web", &cluster.Build{Context: ctxDir, DockerfileInline: "FROM scratch\n", Secrets: b.Secrets}, nil, nil)
	var be *BuildError
	if !errors.As(err, &be) || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "the token is [redacted]") {
		t.Errorf("failed build: %v", err)
	}
	if fe.inline != "FROM scratch\n" || fe.src.ContextDir != ctxDir {
		t.Errorf("dockerfile_inline served as %q", fe.inline)
	}

	delete(env, "TOK")
	if _, _, err := r.Build(context.Background(), "s_web", b, nil, nil); err == nil || !strings.Contains(err.Error(), "TOK is not set") {
		t.Errorf("unset secret variable: %v", err)
	}

	for _, c := range []struct {
		os, buildkit string
		why          string
	}{{"linux", "0", "DOCKER_BUILDKIT=0"}, {"windows", "", "has no BuildKit"}} {
		fe := &fakeEngine{os: c.os}
		r := &Remote{Host: "h3", Engine: fe, LookupEnv: func(k string) (string, bool) {
			if k == "DOCKER_BUILDKIT" && c.buildkit != "" {
				return c.buildkit, true
			}
			return lookup(k)
		}}
		if k, _ := r.Kind(context.Background(), "s_web"); k != Classic {
			t.Errorf("%s DOCKER_BUILDKIT=%q: kind %s", c.os, c.buildkit, k)
		}
		_, warnings, err := r.Build(context.Background(), "s_web", &cluster.Build{Context: ctxDir, Secrets: b.Secrets}, nil, nil)
		if err != nil || !fe.classic || len(warnings) != 1 || !strings.Contains(warnings[0], c.why) {
			t.Errorf("%s: err %v classic %v warnings %q", c.os, err, fe.classic, warnings)
		}
	}
}

func (f *fakeEngine) ImagesWithLabels(context.Context, map[string]string) ([]engine.LabelledImage, error) {
	return nil, nil
}

func (f *fakeEngine) ImageFacts(context.Context, string) (engine.ImageFacts, bool, error) {
	return engine.ImageFacts{}, false, nil
}
func (f *fakeEngine) Save(context.Context, string) (io.ReadCloser, error) {
	return nil, errors.New("no save")
}
func (f *fakeEngine) Load(context.Context, io.Reader) (string, error) {
	return "", errors.New("no load")
}

// TestRunSetsPlatform: a build whose image says another platform than
// the one asked for is replaced by the builder's copy that says it; a
// FROM scratch chain the classic builder refuses is built without
// --platform, with the target args, and its platform set.
func TestRunSetsPlatform(t *testing.T) {
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	builds := map[string]*cluster.Build{"a": {Repository: "s_a", Platforms: []string{"linux/amd64", "linux/386"}}}
	fb := &fakeBuilder{byPlatform: map[string]string{"s_a/linux/amd64": "sha256:aa", "s_a/linux/386": "sha256:bb"}, recorded: map[string]cluster.Platform{"sha256:bb": amd}}
	res, err := Run(context.Background(), "s", builds, nil, Options{BuilderFor: func(string) (Builder, error) { return fb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fb.fixed, []string{"sha256:bb>linux/386"}) || res[0].Variants[0].ID != "sha256:bb-386" || res[0].Variants[0].Platform != "linux/386" {
		t.Errorf("fixed %v, variants %+v", fb.fixed, res[0].Variants)
	}
	sb := &scratchBuilder{fakeBuilder: fb}
	fb.fixed = nil
	res, err = Run(context.Background(), "s", builds, nil, Options{BuilderFor: func(string) (Builder, error) { return sb, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sb.args, []string{"linux/386 386", "linux/amd64 "}) || len(fb.fixed) != 1 {
		t.Errorf("retried with args %q, fixed %v", sb.args, fb.fixed)
	}
}

// scratchBuilder refuses a 386 build as the classic builder refuses a
// FROM scratch chain for another platform.
type scratchBuilder struct {
	*fakeBuilder
	args []string
}

func (s *scratchBuilder) Build(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error) {
	if len(b.Platforms) == 1 && b.Platforms[0] == "linux/386" {
		return "", nil, &BuildError{Service: svc, Builder: "fake", Err: errors.New(`failed to get destination image "sha256:8e": image with reference sha256:8e was found but does not match the specified platform: wanted linux/386, actual: linux/amd64`)}
	}
	if len(b.Platforms) == 0 {
		s.args = append(s.args, b.Args["TARGETPLATFORM"]+" "+b.Args["TARGETARCH"])
		return "sha256:bb", nil, nil
	}
	s.args = append(s.args, b.Platforms[0]+" "+b.Args["TARGETARCH"])
	return s.fakeBuilder.Build(ctx, svc, b, labels, out)
}

func TestTargetArgs(t *testing.T) {
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	got := withTargetArgs(map[string]string{"TARGETVARIANT": "mine", "X": "1"}, []string{"linux/arm/v7"}, amd)
	want := map[string]string{"TARGETPLATFORM": "linux/arm/v7", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "mine", "X": "1"}
	if len(got) != len(want) {
		t.Errorf("%v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	if got := withTargetArgs(nil, nil, amd); got["TARGETARCH"] != "amd64" {
		t.Errorf("the builder's own: %v", got)
	}
}
