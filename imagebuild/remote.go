package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// Engine is what a build host's engine must do (engine.Engine does).
type Engine interface {
	Build(ctx context.Context, tarContext io.Reader, o engine.BuildOptions, out func(string)) (string, error)
	Info(ctx context.Context) (engine.Facts, error)
	ImagesWithLabels(ctx context.Context, labels map[string]string) ([]engine.LabelledImage, error)
}

var _ Engine = (*engine.Engine)(nil)

// Remote builds on a cluster host: the context goes as a tar over the
// run's SSH connection to the host engine's POST /build, which runs the
// classic builder (BuildKit over the API needs a session drover does not
// run), so no docker CLI is needed there and none here.
type Remote struct {
	Host   string
	Engine Engine
	// Context, when set, is told what became of each build's context.
	Context func(ContextOutcome)
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

// Describe names the builder for messages.
func (r *Remote) Describe() string { return "host " + r.Host }

// Kind is the classic builder: POST /build without a BuildKit session.
func (r *Remote) Kind(context.Context, string) (Kind, error) { return Classic, nil }

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
	digest, err := ContextDigest(b, filepath.ToSlash(dockerfile), all)
	if err != nil {
		return "", warnings, err
	}
	if id := r.reusable(ctx, b, labels, digest); id != "" {
		r.tell(ContextOutcome{Service: svc, Digest: digest, Reused: id})
		return id, warnings, nil
	}
	all[LabelContext] = digest
	o := engine.BuildOptions{
		Dockerfile: filepath.ToSlash(dockerfile), Args: b.Args, Target: b.Target, Labels: all,
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
	r.tell(ContextOutcome{Service: svc, Digest: digest, Bytes: sent.n})
	return id, warnings, nil
}

// reusable is the ID of an image on the host that this cluster's service
// built from the same inputs, "" when there is none, when the build asks
// for no_cache or pull (a fresh build), or when the host cannot say (the
// build then goes ahead).
func (r *Remote) reusable(ctx context.Context, b *cluster.Build, labels map[string]string, digest string) string {
	if b.NoCache || b.Pull {
		return ""
	}
	want := map[string]string{LabelContext: digest}
	for _, k := range []string{LabelCluster, LabelService} {
		if v, ok := labels[k]; ok {
			want[k] = v
		}
	}
	ims, err := r.Engine.ImagesWithLabels(ctx, want)
	if err != nil || len(ims) == 0 {
		return ""
	}
	// Two images of one digest are two builds of the same inputs (with a
	// builder that is not reproducible): either will do; take one stably.
	sort.Slice(ims, func(i, j int) bool { return ims[i].ID < ims[j].ID })
	return ims[0].ID
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
