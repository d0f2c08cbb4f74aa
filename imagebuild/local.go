package imagebuild

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/drover-sh/drover/cluster"
)

// Docker runs the docker CLI of the machine running drover.
type Docker interface {
	Run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// DockerCLI is the docker binary in PATH, with this process's environment
// (DOCKER_HOST, DOCKER_CONTEXT, …) plus env.
type DockerCLI struct{}

var _ Docker = DockerCLI{}

func (DockerCLI) Run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	return cmd.Run()
}

// Kind is which builder runs a build.
type Kind string

const (
	// Buildx is `docker buildx build --load` (BuildKit, the buildx plugin).
	Buildx Kind = "buildx"
	// BuildKit is the BuildKit built into the docker CLI up to 22.x
	// (`DOCKER_BUILDKIT=1 docker build`), talking to the engine's own
	// BuildKit; CLIs from 23.0 on need buildx for it.
	BuildKit Kind = "buildkit"
	// Classic is the legacy builder (`DOCKER_BUILDKIT=0 docker build`, or
	// the Engine API's POST /build on a build host).
	Classic Kind = "classic"
)

// describe is how messages name the kind.
func (k Kind) describe() string {
	switch k {
	case Buildx:
		return "BuildKit via docker buildx"
	case BuildKit:
		return "BuildKit built into the docker CLI"
	}
	return "the classic builder"
}

// minBuildKitAPI is the first Engine API version whose engine runs
// BuildKit (docker 18.09).
const minBuildKitAPI = "1.39"

// Local builds with the local docker CLI and its engine.
type Local struct {
	Docker Docker
	// Where names the engine in messages (DOCKER_HOST, or the default socket).
	Where string
	// LookupEnv reads this process's environment (DOCKER_BUILDKIT, the
	// variables of environment: build secrets); nil is os.LookupEnv.
	LookupEnv func(string) (string, bool)

	once sync.Once
	caps localCaps
	err  error
}

// localCaps is what the local docker can do.
type localCaps struct {
	Kind     Kind
	Why      string // why this kind, for warnings ("DOCKER_BUILDKIT=0")
	Platform string // the engine's os/arch
}

func (l *Local) lookupEnv(k string) (string, bool) {
	if l.LookupEnv != nil {
		return l.LookupEnv(k)
	}
	return os.LookupEnv(k)
}

// probe asks the engine for its platform and API version (which also
// tells whether there is one), then picks the builder, once per run:
// buildx when `docker buildx version` works; else the CLI's built-in
// BuildKit when `DOCKER_BUILDKIT=1 docker build --help` offers --secret
// (CLIs up to 22.x; later ones refuse without buildx) and the engine's
// API is 1.39 or later; else the classic builder. DOCKER_BUILDKIT set
// false by the user means the classic builder, as docker reads it.
func (l *Local) probe(ctx context.Context, service string) (localCaps, error) {
	l.once.Do(func() {
		var out, errb bytes.Buffer
		err := l.Docker.Run(ctx, []string{"version", "--format", "{{.Server.Os}}/{{.Server.Arch}} {{.Server.APIVersion}}"}, nil, nil, &out, &errb)
		if err != nil {
			reason := strings.TrimSpace(errb.String())
			if errors.Is(err, exec.ErrNotFound) {
				reason = "no docker CLI in PATH"
			}
			if reason == "" {
				reason = err.Error()
			}
			l.err = &NoLocalEngineError{Service: service, Where: l.Where, Reason: reason}
			return
		}
		f := strings.Fields(out.String())
		var api string
		if len(f) > 0 {
			l.caps.Platform = f[0]
		}
		if len(f) > 1 {
			api = f[1]
		}
		l.caps.Kind, l.caps.Why = l.chooseKind(ctx, l.caps.Platform, api)
	})
	return l.caps, l.err
}

func (l *Local) chooseKind(ctx context.Context, platform, api string) (Kind, string) {
	if off, v := buildKitOff(l.lookupEnv); off {
		return Classic, "DOCKER_BUILDKIT=" + v
	}
	if l.Docker.Run(ctx, []string{"buildx", "version"}, nil, nil, io.Discard, io.Discard) == nil {
		return Buildx, ""
	}
	if !strings.HasPrefix(platform, "linux/") || !apiAtLeast(api, minBuildKitAPI) {
		return Classic, "the engine (" + platform + ", API " + api + ") has no BuildKit"
	}
	var help bytes.Buffer
	if l.Docker.Run(ctx, []string{"build", "--help"}, []string{"DOCKER_BUILDKIT=1"}, nil, &help, io.Discard) == nil &&
		strings.Contains(help.String(), "--secret") {
		return BuildKit, ""
	}
	return Classic, "install docker buildx for BuildKit"
}

// buildKitOff says DOCKER_BUILDKIT is set to false (as docker reads it)
// in this process's environment, and its value.
func buildKitOff(lookup func(string) (string, bool)) (bool, string) {
	v, ok := lookup("DOCKER_BUILDKIT")
	if !ok {
		return false, ""
	}
	on, err := strconv.ParseBool(v)
	return err == nil && !on, v
}

// apiAtLeast compares Engine API versions ("1.41" >= "1.39").
func apiAtLeast(v, min string) bool {
	parse := func(s string) (int, int, bool) {
		a, b, ok := strings.Cut(s, ".")
		x, err1 := strconv.Atoi(a)
		y, err2 := strconv.Atoi(b)
		return x, y, ok && err1 == nil && err2 == nil
	}
	x, y, ok := parse(v)
	mx, my, _ := parse(min)
	return ok && (x > mx || x == mx && y >= my)
}

// Kind probes the local docker (once per run) and says which builder runs
// its builds.
func (l *Local) Kind(ctx context.Context, svc string) (Kind, error) {
	caps, err := l.probe(ctx, svc)
	return caps.Kind, err
}

// Describe names the builder for messages: the engine, and once probed the
// builder that runs ("the local engine (DOCKER_HOST=…, BuildKit built into
// the docker CLI)").
func (l *Local) Describe() string {
	if l.caps.Kind == "" {
		return "the local engine (" + l.Where + ")"
	}
	return "the local engine (" + l.Where + ", " + l.caps.Kind.describe() + ")"
}

// Build builds b and returns the image ID, with warnings for the keys the
// builder in use cannot honour.
func (l *Local) Build(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error) {
	caps, err := l.probe(ctx, svc)
	if err != nil {
		return "", nil, err
	}
	var secrets []string
	if caps.Kind != Classic {
		secrets, err = secretValues(b, l.lookupEnv)
	}
	if err != nil {
		return "", nil, fmt.Errorf("service %s: %w", svc, err)
	}
	dir, err := os.MkdirTemp("", "drover-build-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	iid := filepath.Join(dir, "iid")
	if caps.Kind == Classic {
		// BuildKit sets TARGETPLATFORM & co. itself; the classic builder does not.
		own, _ := cluster.ParsePlatform(caps.Platform)
		cp := *b
		cp.Args = withTargetArgs(b.Args, b.Platforms, own)
		b = &cp
	}
	inv, err := localArgs(b, caps, iid, labels)
	if err != nil {
		return "", nil, err
	}
	var stdin io.Reader
	if b.DockerfileInline != "" {
		stdin = strings.NewReader(b.DockerfileInline)
	}
	t := &tail{n: TailLines}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := redact(sc.Text(), secrets)
			if strings.TrimSpace(l) == "" {
				continue
			}
			if tl, ok := tailLine(l, caps.Kind); ok {
				t.add(tl)
			}
			if out != nil {
				out(l)
			}
		}
		io.Copy(io.Discard, pr)
	}()
	runErr := l.Docker.Run(ctx, inv.args, inv.env, stdin, pw, pw)
	pw.Close()
	<-done
	if runErr != nil {
		return "", inv.warnings, &BuildError{Service: svc, Builder: l.Describe(), Lines: t.lines, Err: runErr}
	}
	id, err := os.ReadFile(iid)
	if err != nil || len(bytes.TrimSpace(id)) == 0 {
		return "", inv.warnings, &BuildError{Service: svc, Builder: l.Describe(), Lines: t.lines, Err: fmt.Errorf("docker wrote no image ID (--iidfile)")}
	}
	return strings.TrimSpace(string(id)), inv.warnings, nil
}

// secretValues checks that the build's secrets can be read and returns
// their values, to keep them out of the output drover shows (a RUN that
// prints one). Files larger than maxRedacted are checked, not read.
func secretValues(b *cluster.Build, lookupEnv func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, s := range b.Secrets {
		if s.Env != "" {
			v, ok := lookupEnv(s.Env)
			if !ok {
				return nil, fmt.Errorf("build secret %s: environment variable %s is not set (secrets.%s.environment)", s.ID, s.Env, s.ID)
			}
			out = appendSecret(out, v)
			continue
		}
		st, err := os.Stat(s.File)
		if err != nil {
			return nil, fmt.Errorf("build secret %s (secrets.%s.file): %w", s.ID, s.ID, err)
		}
		if st.Size() <= maxRedacted {
			v, err := os.ReadFile(s.File)
			if err != nil {
				return nil, fmt.Errorf("build secret %s (secrets.%s.file): %w", s.ID, s.ID, err)
			}
			out = appendSecret(out, string(v))
		}
	}
	return out, nil
}

// appendSecret adds a value to redact: itself and, output being read by
// lines, each of its lines.
func appendSecret(out []string, v string) []string {
	out = append(out, strings.TrimSpace(v))
	if strings.Contains(v, "\n") {
		for _, l := range strings.Split(v, "\n") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

// maxRedacted is the largest secret file whose content is redacted from
// the build output.
const maxRedacted = 64 << 10

// minRedacted: shorter values are not redacted (a secret "1" would blank
// every digit of the output).
const minRedacted = 4

// redact replaces the secrets' values in a line of build output.
func redact(line string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= minRedacted {
			line = strings.ReplaceAll(line, s, "[redacted]")
		}
	}
	return line
}

// tailLine is the form of a line of BuildKit's plain progress output kept
// for a failed build's last lines: the step headers, the steps' output
// (without the seconds since the step started) and the errors; not the
// vertex digests, DONE/CACHED markers, transfers or the recap frames.
// The classic builder's lines are kept as they are.
func tailLine(l string, k Kind) (string, bool) {
	if k == Classic {
		return l, true
	}
	if l == "------" || strings.HasPrefix(l, "--------------------") || strings.HasPrefix(l, " > [") {
		return "", false
	}
	if !strings.HasPrefix(l, "#") {
		return l, true
	}
	num, rest, ok := strings.Cut(l, " ")
	if !ok {
		return l, true
	}
	if _, err := strconv.Atoi(num[1:]); err != nil {
		return l, true
	}
	switch {
	case strings.HasPrefix(rest, "sha256:"), rest == "CACHED", strings.HasPrefix(rest, "DONE "),
		strings.HasPrefix(rest, "transferring "), strings.HasPrefix(rest, "exporting layers"),
		strings.HasPrefix(rest, "writing image"), strings.HasPrefix(rest, "naming to"):
		return "", false
	}
	// "#6 0.448 ls: /nope: No such file or directory": drop the seconds.
	if secs, text, ok := strings.Cut(rest, " "); ok {
		if _, err := strconv.ParseFloat(secs, 64); err == nil {
			return num + " " + text, true
		}
	}
	return l, true
}

// invocation is one docker build command: argv (no secret values: build
// arg values are in env, read by docker for `--build-arg KEY`; secrets are
// named by file or variable), env, and warnings about what it leaves out.
type invocation struct {
	args     []string
	env      []string
	warnings []string
}

// localArgs is the docker command that builds b with the builder caps
// chose: `docker buildx build --load`, `DOCKER_BUILDKIT=1 docker build`
// (the CLI's own BuildKit), or `DOCKER_BUILDKIT=0 docker build` (classic;
// so that a CLI without buildx does not refuse). BuildKit's output is
// asked for as plain lines (--progress plain): the steps' output, for a
// failed build's last lines.
func localArgs(b *cluster.Build, caps localCaps, iidFile string, labels map[string]string) (invocation, error) {
	var inv invocation
	kind := caps.Kind
	switch kind {
	case Buildx:
		inv.args = []string{"buildx", "build", "--load", "--progress", "plain"}
	case BuildKit:
		inv.args = []string{"build", "--progress", "plain"}
		inv.env = []string{"DOCKER_BUILDKIT=1"}
	default:
		kind = Classic
		inv.args = []string{"build"}
		inv.env = []string{"DOCKER_BUILDKIT=0"}
	}
	add := func(a ...string) { inv.args = append(inv.args, a...) }
	without := func(key string) {
		why := kind.describe()
		switch {
		case kind == BuildKit:
			why += " (install docker buildx for it)"
		case caps.Why != "":
			why += " (" + caps.Why + ")"
		}
		inv.warnings = append(inv.warnings, fmt.Sprintf("key build.%s is not honoured by %s (ignored)", key, why))
	}
	add("--iidfile", iidFile)
	switch {
	case b.DockerfileInline != "":
		add("-f", "-")
	case b.Dockerfile != "":
		f := b.Dockerfile
		if !filepath.IsAbs(f) {
			f = filepath.Join(b.Context, f)
		}
		add("-f", f)
	}
	for _, k := range sortedKeys(b.Args) {
		add("--build-arg", k)
		inv.env = append(inv.env, k+"="+b.Args[k])
	}
	if b.Target != "" {
		add("--target", b.Target)
	}
	all := map[string]string{}
	for k, v := range b.Labels {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	for _, k := range sortedKeys(all) {
		add("--label", k+"="+all[k])
	}
	for _, c := range b.CacheFrom {
		add("--cache-from", c)
	}
	if len(b.CacheTo) > 0 {
		if kind == Buildx {
			for _, c := range b.CacheTo {
				add("--cache-to", c)
			}
		} else {
			without("cache_to")
		}
	}
	if b.NoCache {
		add("--no-cache")
	}
	if b.Pull {
		add("--pull")
	}
	if b.Network != "" {
		add("--network", b.Network)
	}
	for _, h := range b.ExtraHosts {
		add("--add-host", h)
	}
	if b.ShmSize > 0 {
		// The CLI's built-in BuildKit takes --shm-size and ignores it.
		if kind == BuildKit {
			without("shm_size")
		} else {
			add("--shm-size", fmt.Sprint(b.ShmSize))
		}
	}
	switch len(b.Platforms) {
	case 0:
	case 1:
		add("--platform", b.Platforms[0])
	default:
		return inv, fmt.Errorf("build.platforms %s: one platform per build (imagebuild.Run builds each)", strings.Join(b.Platforms, ", "))
	}
	if len(b.Secrets) > 0 && kind == Classic {
		without("secrets")
	} else {
		for _, s := range b.Secrets {
			// The value stays where it is: docker reads the file, or the
			// variable from the environment it inherits from drover.
			if s.File != "" {
				add("--secret", "id="+s.ID+",src="+s.File)
			} else {
				add("--secret", "id="+s.ID+",env="+s.Env)
			}
		}
	}
	if len(b.SSH) > 0 {
		if kind == Classic {
			without("ssh")
		} else {
			for _, s := range b.SSH {
				add("--ssh", s)
			}
		}
	}
	add(b.Context)
	return inv, nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
