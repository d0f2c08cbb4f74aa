package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// Engine is what a build host's engine must do (engine.Engine does).
type Engine interface {
	Build(ctx context.Context, tarContext io.Reader, o engine.BuildOptions, out func(string)) (string, error)
	BuildKit(ctx context.Context, src engine.BuildKitSource, o engine.BuildOptions, out func(string)) (string, int64, error)
	Info(ctx context.Context) (engine.Facts, error)
	ImagesWithLabels(ctx context.Context, labels map[string]string) ([]engine.LabelledImage, error)
	ImageFacts(ctx context.Context, ref string) (engine.ImageFacts, bool, error)
	Save(ctx context.Context, ref string) (io.ReadCloser, error)
	Load(ctx context.Context, gz io.Reader) (string, error)
}

var _ Engine = (*engine.Engine)(nil)

// Remote builds on a cluster host through its Engine API, over the run's
// SSH connection, so no docker CLI is needed there and none here: with the
// engine's BuildKit (a Linux engine), the context, secrets and ssh agent
// served from this machine over a session (engine.BuildKit); else, or with
// DOCKER_BUILDKIT=0, the classic builder, sent the context as a tar.
type Remote struct {
	Host   string
	Engine Engine
	// LookupEnv reads this process's environment (DOCKER_BUILDKIT, the
	// variables of environment: build secrets); nil is os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Context, when set, is told what became of each build's context.
	Context func(ContextOutcome)

	once sync.Once
	kind Kind
	why  string
}

// ContextOutcome is what became of a build's context: sent to the host
// (Bytes) and built there, or not sent at all because the host has an
// image of this cluster and service built from the same inputs (same
// ContextDigest), which is reused as it is.
type ContextOutcome struct {
	Service string // STACK_SERVICE
	Digest  string
	Bytes   int64  // the tar sent; 0 when reused
	Reused  string // the ID of the image reused; "" when built
}

func (r *Remote) lookupEnv(k string) (string, bool) {
	if r.LookupEnv != nil {
		return r.LookupEnv(k)
	}
	return os.LookupEnv(k)
}

// Kind is the engine's BuildKit when it is a Linux engine (every engine
// drover speaks to, API 1.41 and later, has it), else the classic builder;
// asked once.
func (r *Remote) Kind(ctx context.Context, _ string) (Kind, error) {
	r.once.Do(func() {
		r.kind = Classic
		if off, v := buildKitOff(r.lookupEnv); off {
			r.why = "DOCKER_BUILDKIT=" + v
			return
		}
		f, err := r.Engine.Info(ctx)
		if err != nil || f.OS != "linux" {
			r.why = "the engine has no BuildKit"
			return
		}
		r.kind = BuildKit
	})
	return r.kind, nil
}

// Describe names the builder for messages.
func (r *Remote) Describe() string {
	switch r.kind {
	case BuildKit:
		return "host " + r.Host + " (BuildKit)"
	case Classic:
		return "host " + r.Host + " (the classic builder)"
	}
	return "host " + r.Host
}

// Build builds b on the host and returns the image ID there.
func (r *Remote) Build(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error) {
	kind, _ := r.Kind(ctx, svc)
	var warnings []string
	without := func(key string) {
		why := "the engine's classic builder"
		if r.why != "" {
			why += ", " + r.why
		}
		if kind == BuildKit {
			why = "its BuildKit"
		}
		warnings = append(warnings, fmt.Sprintf("key build.%s is not honoured when building on a host (%s) (ignored)", key, why))
	}
	if kind == BuildKit {
		id, err := r.buildKit(ctx, svc, b, labels, out, without)
		return id, warnings, err
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
		return "", warnings, fmt.Errorf("build.platforms %v: one platform per build (imagebuild.Run builds each)", b.Platforms)
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
	digest, err := ContextDigest(b, filepath.ToSlash(dockerfile), all)
	if err != nil {
		return "", warnings, err
	}
	if id := r.reusable(ctx, b, labels, digest); id != "" {
		r.tell(ContextOutcome{Service: svc, Digest: digest, Reused: id})
		return id, warnings, nil
	}
	o := engine.BuildOptions{
		Dockerfile: filepath.ToSlash(dockerfile), Args: withTargetArgs(b.Args, b.Platforms, r.Platform(ctx)), Target: b.Target, Labels: all,
		CacheFrom: b.CacheFrom, NoCache: b.NoCache, Pull: b.Pull, Network: b.Network,
		ExtraHosts: b.ExtraHosts, ShmSize: b.ShmSize,
	}
	if len(b.Platforms) == 1 {
		o.Platform = b.Platforms[0]
	}
	pr, pw := io.Pipe()
	sent := &countingWriter{w: pw}
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(writeContext(sent, b.Context, filepath.ToSlash(dockerfile), b.DockerfileInline, false))
	}()
	t := &tail{n: TailLines}
	id, err := r.Engine.Build(ctx, pr, o, func(l string) {
		t.add(l)
		if out != nil {
			out(l)
		}
	})
	pr.Close()
	<-written
	if err != nil {
		var bf *engine.BuildFailedError
		if errors.As(err, &bf) {
			err = errors.New(bf.Message)
		}
		return "", warnings, &BuildError{Service: svc, Builder: r.Describe(), Lines: t.lines, Err: err}
	}
	r.remember(ctx, b, id, digest)
	r.tell(ContextOutcome{Service: svc, Digest: digest, Bytes: sent.n})
	return id, warnings, nil
}

// reusable is the ID of an image on the host that this cluster's service
// built from the same inputs (it has the build's ContextTag), "" when
// there is none, when the build asks for no_cache or pull (a fresh
// build), or when the host cannot say (the build then goes ahead).
func (r *Remote) reusable(ctx context.Context, b *cluster.Build, labels map[string]string, digest string) string {
	if b.NoCache || b.Pull || digest == "" || b.Repository == "" {
		return ""
	}
	want := map[string]string{}
	for _, k := range []string{LabelCluster, LabelService} {
		if v, ok := labels[k]; ok {
			want[k] = v
		}
	}
	ims, err := r.Engine.ImagesWithLabels(ctx, want)
	if err != nil {
		return ""
	}
	tag := ContextTag(b.Repository, digest)
	for _, im := range ims {
		for _, t := range im.Tags {
			if t == tag {
				return im.ID
			}
		}
	}
	return ""
}

// remember tags a new image with its inputs' ContextTag on the host. A
// tag that fails costs only the reuse next time, so it is not an error.
func (r *Remote) remember(ctx context.Context, b *cluster.Build, id, digest string) {
	if digest == "" || b.Repository == "" {
		return
	}
	_ = r.Tag(ctx, id, ContextTag(b.Repository, digest))
}

func (r *Remote) tell(o ContextOutcome) {
	if r.Context != nil {
		r.Context(o)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// buildKit builds b with the host engine's BuildKit: the directories, the
// secrets and the ssh agent stay here and are served to the build.
// without warns about a key.
func (r *Remote) buildKit(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string), without func(key string)) (string, error) {
	if len(b.CacheTo) > 0 {
		without("cache_to")
	}
	if b.ShmSize > 0 {
		without("shm_size")
	}
	if len(b.Platforms) > 1 {
		return "", fmt.Errorf("build.platforms: drover builds one platform per service (multi-platform builds are not supported yet)")
	}
	secrets, err := secretValues(b, r.lookupEnv)
	if err != nil {
		return "", fmt.Errorf("service %s: %w", svc, err)
	}
	st, err := os.Stat(b.Context)
	if err != nil || !st.IsDir() {
		return "", fmt.Errorf("build.context %s: must be a directory on this machine", b.Context)
	}
	src := engine.BuildKitSource{ContextDir: b.Context, SSH: b.SSH}
	for _, s := range b.Secrets {
		src.Secrets = append(src.Secrets, engine.BuildKitSecret{ID: s.ID, File: s.File, Env: s.Env})
	}
	dockerfile := b.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if !filepath.IsAbs(dockerfile) {
		dockerfile = filepath.Join(b.Context, dockerfile)
	}
	if b.DockerfileInline != "" {
		dir, err := os.MkdirTemp("", "drover-dockerfile-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(dir)
		dockerfile = filepath.Join(dir, "Dockerfile")
		if err := os.WriteFile(dockerfile, []byte(b.DockerfileInline), 0o600); err != nil {
			return "", err
		}
	}
	src.DockerfileDir = filepath.Dir(dockerfile)
	all := map[string]string{}
	for k, v := range b.Labels {
		all[k] = v
	}
	for k, v := range labels {
		all[k] = v
	}
	// An image built here before from the same inputs is reused as with
	// the classic builder (the digest covers the Dockerfile when it is in
	// the context or inline).
	var digest string
	if rel, err := filepath.Rel(b.Context, dockerfile); b.DockerfileInline != "" || err == nil && !strings.HasPrefix(rel, "..") {
		if b.DockerfileInline != "" {
			rel = InlineDockerfile
		}
		if digest, err = ContextDigest(b, filepath.ToSlash(rel), all); err != nil {
			return "", err
		}
		if id := r.reusable(ctx, b, labels, digest); id != "" {
			r.tell(ContextOutcome{Service: svc, Digest: digest, Reused: id})
			return id, nil
		}
	}
	o := engine.BuildOptions{
		Dockerfile: filepath.Base(dockerfile), Args: b.Args, Target: b.Target, Labels: all,
		CacheFrom: b.CacheFrom, NoCache: b.NoCache, Pull: b.Pull, Network: b.Network,
		ExtraHosts: b.ExtraHosts,
	}
	if len(b.Platforms) == 1 {
		o.Platform = b.Platforms[0]
	}
	t := &tail{n: TailLines}
	id, sent, err := r.Engine.BuildKit(ctx, src, o, func(l string) {
		l = redact(l, secrets)
		if tl, ok := tailLine(l, BuildKit); ok {
			t.add(tl)
		}
		if out != nil {
			out(l)
		}
	})
	if err != nil {
		var bf *engine.BuildFailedError
		if errors.As(err, &bf) {
			err = errors.New(redact(bf.Message, secrets))
		}
		return "", &BuildError{Service: svc, Builder: r.Describe(), Lines: t.lines, Err: err}
	}
	r.remember(ctx, b, id, digest)
	r.tell(ContextOutcome{Service: svc, Digest: digest, Bytes: sent})
	return id, nil
}
