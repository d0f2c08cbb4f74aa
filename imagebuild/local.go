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

// Local builds with the local docker CLI and its engine.
type Local struct {
	Docker Docker
	// Where names the engine in messages (DOCKER_HOST, or the default socket).
	Where string

	once sync.Once
	caps localCaps
	err  error
}

// localCaps is what the local docker can do.
type localCaps struct {
	BuildKit bool   // docker buildx is installed
	Platform string // the engine's os/arch
}

// probe asks the engine for its platform (which also tells whether there
// is one) and the CLI whether buildx is installed; once per run.
func (l *Local) probe(ctx context.Context, service string) (localCaps, error) {
	l.once.Do(func() {
		var out, errb bytes.Buffer
		err := l.Docker.Run(ctx, []string{"version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"}, nil, nil, &out, &errb)
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
		l.caps.Platform = strings.TrimSpace(out.String())
		l.caps.BuildKit = l.Docker.Run(ctx, []string{"buildx", "version"}, nil, nil, io.Discard, io.Discard) == nil
	})
	return l.caps, l.err
}

// Describe names the builder for messages.
func (l *Local) Describe() string { return "the local engine (" + l.Where + ")" }

// Build builds b and returns the image ID, with warnings for the keys the
// builder in use cannot honour.
func (l *Local) Build(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error) {
	caps, err := l.probe(ctx, svc)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "drover-build-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	iid := filepath.Join(dir, "iid")
	inv, err := localArgs(b, caps.BuildKit, iid, labels)
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
			l := sc.Text()
			if strings.TrimSpace(l) == "" {
				continue
			}
			t.add(l)
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

// invocation is one docker build command: argv (no secret values: build
// arg values are in env, read by docker for `--build-arg KEY`), env, and
// warnings about what it leaves out.
type invocation struct {
	args     []string
	env      []string
	warnings []string
}

// localArgs is the docker command that builds b: `docker buildx build
// --load` with BuildKit, else the classic `docker build` (DOCKER_BUILDKIT=0,
// so a CLI without buildx does not refuse).
func localArgs(b *cluster.Build, buildKit bool, iidFile string, labels map[string]string) (invocation, error) {
	var inv invocation
	if buildKit {
		inv.args = []string{"buildx", "build", "--load"}
	} else {
		inv.args = []string{"build"}
		inv.env = []string{"DOCKER_BUILDKIT=0"}
	}
	add := func(a ...string) { inv.args = append(inv.args, a...) }
	without := func(key, why string) {
		inv.warnings = append(inv.warnings, fmt.Sprintf("key build.%s is not honoured by %s (ignored)", key, why))
	}
	const classic = "the classic builder (install docker buildx for BuildKit)"
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
		if buildKit {
			for _, c := range b.CacheTo {
				add("--cache-to", c)
			}
		} else {
			without("cache_to", classic)
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
		add("--shm-size", fmt.Sprint(b.ShmSize))
	}
	switch len(b.Platforms) {
	case 0:
	case 1:
		add("--platform", b.Platforms[0])
	default:
		return inv, fmt.Errorf("build.platforms %s: drover builds one platform per service (multi-platform builds are not supported yet)", strings.Join(b.Platforms, ", "))
	}
	for _, s := range b.Secrets {
		if !buildKit {
			without("secrets", classic)
			break
		}
		if s.File != "" {
			add("--secret", "id="+s.ID+",src="+s.File)
		} else {
			add("--secret", "id="+s.ID+",env="+s.Env)
		}
	}
	if len(b.SSH) > 0 {
		if buildKit {
			for _, s := range b.SSH {
				add("--ssh", s)
			}
		} else {
			without("ssh", classic)
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
