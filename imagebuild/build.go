package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
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
	// Image is a built image's ID and platform where it was built.
	Image(ctx context.Context, id string) (engine.ImageFacts, error)
	// SetPlatform makes, where it was built, a copy of image id whose
	// config says p (see fixplatform.go) and returns the copy's ID.
	SetPlatform(ctx context.Context, id string, p cluster.Platform) (string, error)
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
	Service string `json:"service"` // STACK_SERVICE
	Image   string `json:"image"`   // REPOSITORY:TAG
	// ID is the image ID of a one-platform build; with several platforms,
	// the digest of the variants (SetID), whose first hex digits are the tag.
	ID      string  `json:"id"`
	On      string  `json:"on,omitempty"` // the build host; "" for the local engine
	Seconds float64 `json:"seconds"`
	// Reused: the build host had an image built from the same inputs
	// (ContextDigest); nothing was sent or built.
	Reused  bool `json:"reused,omitempty"`
	Builder Kind `json:"builder,omitempty"` // buildx, buildkit or classic
	// Variants are the images built, one per platform, sorted by platform.
	Variants []Variant `json:"variants"`
}

// Variant is one platform's image of a build.
type Variant struct {
	Platform string `json:"platform"`
	ID       string `json:"id"`
	// Image names the variant where it was built: REPOSITORY:TAG of its own
	// ID (a builder cannot hold two images under one reference). With one
	// platform it is the Result's Image.
	Image   string  `json:"image"`
	Seconds float64 `json:"seconds"`
}

// Platforms are the variants' platforms (unknown ones left out).
func (r Result) Platforms() []cluster.Platform {
	var out []cluster.Platform
	for _, v := range r.Variants {
		if p, err := cluster.ParsePlatform(v.Platform); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Multi says the build has several variants.
func (r Result) Multi() bool { return len(r.Variants) > 1 }

// SetID is the content address of a multi-platform build: the sha256 of
// its sorted "PLATFORM=ID" lines. An unchanged build of every variant is
// the same set, hence the same tag.
func SetID(vs []Variant) string {
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = v.Platform + "=" + v.ID + "\n"
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		io.WriteString(h, l)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
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
// only when it is not empty), one after the other, once per platform
// (ChoosePlatforms), and tags each image where it was built: REPOSITORY:TAG
// for a one-platform build; with several platforms each variant as
// REPOSITORY:TAG-of-its-ID and REPOSITORY:TAG (TAG of SetID) on the
// variant the builder's own platform runs, if one does. The first failure
// stops the run.
func Run(ctx context.Context, stack string, builds map[string]*cluster.Build, only []string, opt Options) ([]Result, error) {
	if opt.Now == nil {
		opt.Now = time.Now
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
		r, err := buildService(ctx, stack, name, builds[name], opt)
		if err != nil {
			return out, err
		}
		if opt.Built != nil {
			opt.Built(r)
		}
		out = append(out, r)
	}
	return out, nil
}

// buildService builds one service for each of its platforms and tags it.
func buildService(ctx context.Context, stack, name string, b *cluster.Build, opt Options) (Result, error) {
	full := stack + "_" + name
	warn := func(msg string) {
		if opt.Warn != nil {
			opt.Warn(full, msg)
		}
	}
	on := b.On
	if on == "" {
		on = opt.DefaultOn
	}
	bl, err := opt.BuilderFor(on)
	if err != nil {
		return Result{}, fmt.Errorf("service %s: %w", full, err)
	}
	own := bl.Platform(ctx)
	var nodes []cluster.Platform
	if opt.NodePlatforms != nil {
		nodes = opt.NodePlatforms(name)
	}
	platforms, warnings, err := ChoosePlatforms(b.Platforms, own, nodes)
	if err != nil {
		return Result{}, fmt.Errorf("service %s: %w", full, err)
	}
	for _, w := range warnings {
		warn(w)
	}
	labels := map[string]string{LabelCluster: opt.Cluster, LabelService: full}
	var kind Kind
	if k, ok := bl.(kinder); ok {
		if kind, err = k.Kind(ctx, full); err != nil {
			return Result{}, err
		}
	}
	if opt.Started != nil {
		opt.Started(full, bl.Describe())
	}
	start := opt.Now()
	warned := map[string]bool{}
	r := Result{Service: full, On: on, Builder: kind}
	for _, p := range platforms {
		v, ws, err := buildVariant(ctx, bl, full, b, p, own, labels, opt)
		for _, w := range ws {
			if !warned[w] {
				warned[w] = true
				warn(w)
			}
		}
		if err != nil {
			return r, err
		}
		r.Variants = append(r.Variants, v)
	}
	if err := tagResult(ctx, bl, b.Repository, own, &r); err != nil {
		return r, fmt.Errorf("service %s: %w", full, err)
	}
	r.Seconds = opt.Now().Sub(start).Seconds()
	return r, nil
}

// buildVariant builds b for platform p ("": the builder's own) and checks
// the image says p (fixing it when the builder recorded another).
func buildVariant(ctx context.Context, bl Builder, full string, b *cluster.Build, p string, own cluster.Platform, labels map[string]string, opt Options) (Variant, []string, error) {
	cp := *b
	cp.Platforms = nil
	if p != "" {
		cp.Platforms = []string{p}
	}
	start := opt.Now()
	output := func(l string) {
		if opt.Output != nil {
			opt.Output(full, l)
		}
	}
	id, warnings, err := bl.Build(ctx, full, &cp, labels, output)
	if p != "" && scratchMismatch(err) {
		// See fixplatform.go: the chain is FROM scratch, which the classic
		// builder makes of its own platform. Build it so, with the target
		// args of p, and set the platform of the result.
		output("the classic builder cannot build this FROM scratch image for " + p + " (a step before the first COPY): building it without --platform, then setting its platform")
		want, _ := cluster.ParsePlatform(p)
		cp.Platforms = nil
		cp.Args = withTargetArgs(b.Args, []string{p}, want)
		id, warnings, err = bl.Build(ctx, full, &cp, labels, output)
	}
	if err != nil {
		var be *BuildError
		if errors.As(err, &be) {
			be.Platform = p
			return Variant{}, warnings, be
		}
		if _, ok := err.(*NoLocalEngineError); ok {
			return Variant{}, warnings, err
		}
		return Variant{}, warnings, fmt.Errorf("service %s: %w", full, err)
	}
	want := own
	if p != "" {
		want, _ = cluster.ParsePlatform(p)
	}
	id, got, err := checkPlatform(ctx, bl, id, want)
	if err != nil {
		return Variant{}, warnings, fmt.Errorf("service %s: %w", full, err)
	}
	return Variant{Platform: got.String(), ID: id, Seconds: opt.Now().Sub(start).Seconds()}, warnings, nil
}

// tagResult names r's image (and each variant of a multi-platform build)
// on the builder.
func tagResult(ctx context.Context, bl Builder, repository string, own cluster.Platform, r *Result) error {
	if len(r.Variants) == 1 {
		v := &r.Variants[0]
		r.ID, r.Image, v.Image = v.ID, Ref(repository, v.ID), Ref(repository, v.ID)
		return bl.Tag(ctx, v.ID, r.Image)
	}
	r.ID = SetID(r.Variants)
	r.Image = Ref(repository, r.ID)
	for i := range r.Variants {
		v := &r.Variants[i]
		v.Image = Ref(repository, v.ID)
		if err := bl.Tag(ctx, v.ID, v.Image); err != nil {
			return err
		}
	}
	if best, ok := own.BestFor(r.Platforms()); ok && own.Known() {
		for _, v := range r.Variants {
			if v.Platform == best.String() {
				return bl.Tag(ctx, v.ID, r.Image)
			}
		}
	}
	return nil
}
