package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// Engine is what a build host's engine must do (engine.Engine does).
type Engine interface {
	Build(ctx context.Context, tarContext io.Reader, o engine.BuildOptions, out func(string)) (string, error)
	Info(ctx context.Context) (engine.Facts, error)
}

var _ Engine = (*engine.Engine)(nil)

// Remote builds on a cluster host: the context goes as a tar over the
// run's SSH connection to the host engine's POST /build, which runs the
// classic builder (BuildKit over the API needs a session drover does not
// run), so no docker CLI is needed there and none here.
type Remote struct {
	Host   string
	Engine Engine
}

// Describe names the builder for messages.
func (r *Remote) Describe() string { return "host " + r.Host }

// Build builds b on the host and returns the image ID there.
func (r *Remote) Build(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error) {
	var warnings []string
	without := func(key string) {
		warnings = append(warnings, fmt.Sprintf("key build.%s is not honoured when building on a host (the engine's classic builder) (ignored)", key))
	}
	if len(b.Secrets) > 0 {
		without("secrets")
	}
	if len(b.SSH) > 0 {
		without("ssh")
	}
	if len(b.CacheTo) > 0 {
		without("cache_to")
	}
	if len(b.Platforms) > 1 {
		return "", warnings, fmt.Errorf("build.platforms: drover builds one platform per service (multi-platform builds are not supported yet)")
	}
	st, err := os.Stat(b.Context)
	if err != nil || !st.IsDir() {
		return "", warnings, fmt.Errorf("build.context %s: must be a directory on this machine", b.Context)
	}
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if filepath.IsAbs(dockerfile) {
		rel, err := filepath.Rel(b.Context, dockerfile)
		if err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) > 2 && rel[:3] == "../" {
			return "", warnings, fmt.Errorf("build.dockerfile %s: must be inside the context %s to build on a host", dockerfile, b.Context)
		}
		dockerfile = rel
	}
	if b.DockerfileInline != "" {
		dockerfile = InlineDockerfile
	}
	all := map[string]string{}
	for k, v := range b.Labels {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	o := engine.BuildOptions{
		Dockerfile: filepath.ToSlash(dockerfile), Args: b.Args, Target: b.Target, Labels: all,
		CacheFrom: b.CacheFrom, NoCache: b.NoCache, Pull: b.Pull, Network: b.Network,
		ExtraHosts: b.ExtraHosts, ShmSize: b.ShmSize,
	}
	if len(b.Platforms) == 1 {
		o.Platform = b.Platforms[0]
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(writeContext(pw, b.Context, filepath.ToSlash(dockerfile), b.DockerfileInline))
	}()
	t := &tail{n: TailLines}
	id, err := r.Engine.Build(ctx, pr, o, func(l string) {
		t.add(l)
		if out != nil {
			out(l)
		}
	})
	pr.Close()
	if err != nil {
		var bf *engine.BuildFailedError
		if errors.As(err, &bf) {
			err = errors.New(bf.Message)
		}
		return "", warnings, &BuildError{Service: svc, Builder: r.Describe(), Lines: t.lines, Err: err}
	}
	return id, warnings, nil
}
