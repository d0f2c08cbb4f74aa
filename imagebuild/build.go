package imagebuild

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Builder builds one service's image and names it.
type Builder interface {
	// Describe names the builder in messages ("host h1").
	Describe() string
	// Build returns the image ID, and warnings about build: keys this
	// builder cannot honour.
	Build(ctx context.Context, svc string, b *cluster.Build, labels map[string]string, out func(string)) (string, []string, error)
	// Tag names the image ID ref where it was built.
	Tag(ctx context.Context, id, ref string) error
	// Platform is the builder's own platform (unknown when it cannot tell).
	Platform(ctx context.Context) cluster.Platform
}

var (
	_ Builder = (*Local)(nil)
	_ Builder = (*Remote)(nil)
	_ kinder  = (*Local)(nil)
	_ kinder  = (*Remote)(nil)
)

// kinder is a builder that says which builder runs its builds (the local
// engine asks its docker CLI first, so that the start line can say).
type kinder interface {
	Kind(ctx context.Context, svc string) (Kind, error)
}

// Tag names the image in the local engine.
func (l *Local) Tag(ctx context.Context, id, ref string) error {
	if err := l.Docker.Run(ctx, []string{"tag", id, ref}, nil, nil, io.Discard, io.Discard); err != nil {
		return fmt.Errorf("docker tag %s %s (%s): %w", Tag(id), ref, l.Where, err)
	}
	return nil
}

// Platform is the local engine's.
func (l *Local) Platform(ctx context.Context) cluster.Platform {
	caps, err := l.probe(ctx, "")
	if err != nil {
		return cluster.Platform{}
	}
	p, _ := cluster.ParsePlatform(caps.Platform)
	return p
}

// Platform is the build host's.
func (r *Remote) Platform(ctx context.Context) cluster.Platform {
	f, err := r.Engine.Info(ctx)
	if err != nil {
		return cluster.Platform{}
	}
	return cluster.Platform{OS: f.OS, Arch: f.Arch, Variant: f.Variant}
}

// Tag names the image on the build host.
func (r *Remote) Tag(ctx context.Context, id, ref string) error {
	t, ok := r.Engine.(interface {
		Tag(ctx context.Context, id, ref string) error
	})
	if !ok {
		return fmt.Errorf("%s: the engine cannot tag images", r.Host)
	}
	return t.Tag(ctx, id, ref)
}

// Result is one service's built image.
type Result struct {
	Service string  `json:"service"` // STACK_SERVICE
	Image   string  `json:"image"`   // REPOSITORY:TAG
	ID      string  `json:"id"`
	On      string  `json:"on,omitempty"` // the build host; "" for the local engine
	Seconds float64 `json:"seconds"`
	// Reused: the build host had an image built from the same inputs
	// (ContextDigest); nothing was sent or built.
	Reused  bool `json:"reused,omitempty"`
	Builder Kind `json:"builder,omitempty"` // buildx, buildkit or classic
}

// Options tune Run.
type Options struct {
	Cluster string
	// DefaultOn is the build host of builds that name none (inventory
	// build.on; "": the local engine).
	DefaultOn string
	// BuilderFor returns the builder of a build host ("": the local engine).
	BuilderFor func(on string) (Builder, error)
	// Warn receives each warning about a service's build.
	Warn func(service, msg string)
	// Started and Built are told when a service's build starts (with the
	// builder's description) and when it is built.
	Started func(service, builder string)
	Built   func(Result)
	// Output receives each line of a build's output.
	Output func(service, line string)
	// NodePlatforms gives the platforms of the nodes a service (compose
	// name) may run on, to build for them (nil: the builder's own).
	NodePlatforms func(service string) []cluster.Platform
	// Now is the clock for the durations (time.Now when nil).
	Now func() time.Time
}

// Run builds the stack's services that have a build: section (those of
// only when it is not empty), one after the other, and tags each image
// REPOSITORY:TAG where it was built. The first failure stops the run.
func Run(ctx context.Context, stack string, builds map[string]*cluster.Build, only []string, opt Options) ([]Result, error) {
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	names := make([]string, 0, len(builds))
	for n := range builds {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(only) > 0 {
		want := map[string]bool{}
		for _, n := range only {
			if _, ok := builds[n]; !ok {
				return nil, fmt.Errorf("service %s: no build: section in stack %s (services with one: %v)", n, stack, names)
			}
			want[n] = true
		}
		var keep []string
		for _, n := range names {
			if want[n] {
				keep = append(keep, n)
			}
		}
		names = keep
	}
	var out []Result
	for _, name := range names {
		b := builds[name]
		full := stack + "_" + name
		on := b.On
		if on == "" {
			on = opt.DefaultOn
		}
		bl, err := opt.BuilderFor(on)
		if err != nil {
			return out, fmt.Errorf("service %s: %w", full, err)
		}
		if opt.NodePlatforms != nil && len(b.Platforms) == 0 {
			p, warn := ChoosePlatform(nil, bl.Platform(ctx), opt.NodePlatforms(name))
			if warn != "" && opt.Warn != nil {
				opt.Warn(full, warn)
			}
			if p != "" {
				cp := *b
				cp.Platforms = []string{p}
				b = &cp
			}
		}
		labels := map[string]string{LabelCluster: opt.Cluster, LabelService: full}
		var kind Kind
		if k, ok := bl.(kinder); ok {
			if kind, err = k.Kind(ctx, full); err != nil {
				return out, err
			}
		}
		if opt.Started != nil {
			opt.Started(full, bl.Describe())
		}
		start := now()
		id, warnings, err := bl.Build(ctx, full, b, labels, func(l string) {
			if opt.Output != nil {
				opt.Output(full, l)
			}
		})
		for _, w := range warnings {
			if opt.Warn != nil {
				opt.Warn(full, w)
			}
		}
		if err != nil {
			if _, ok := err.(*BuildError); ok {
				return out, err
			}
			if _, ok := err.(*NoLocalEngineError); ok {
				return out, err
			}
			return out, fmt.Errorf("service %s: %w", full, err)
		}
		ref := Ref(b.Repository, id)
		if err := bl.Tag(ctx, id, ref); err != nil {
			return out, fmt.Errorf("service %s: %w", full, err)
		}
		r := Result{Service: full, Image: ref, ID: id, On: on, Seconds: now().Sub(start).Seconds(), Builder: kind}
		if opt.Built != nil {
			opt.Built(r)
		}
		out = append(out, r)
	}
	return out, nil
}
