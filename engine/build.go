package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"io"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// errNeedsAPI refuses an operation that only the Engine API path has.
var errNeedsAPI = errors.New("needs the Engine API client")

// BuildOptions is one image build on a host's engine (POST /build with a
// tar context). Values of Args travel in the request only.
type BuildOptions struct {
	Dockerfile string // path inside the context
	Args       map[string]string
	Target     string
	Labels     map[string]string
	CacheFrom  []string
	NoCache    bool
	Pull       bool
	Network    string
	ExtraHosts []string
	ShmSize    int64
	Platform   string
}

// BuildFailedError is a build the engine ran and that failed: Lines are
// the builder's output, last ones included, for the user.
type BuildFailedError struct {
	Host    string
	Message string
	Lines   []string
}

func (e *BuildFailedError) Error() string { return fmt.Sprintf("%s: %s", e.Host, e.Message) }

// Build builds an image from a tar context with the engine's classic
// builder (BuildKit is BuildKit's, with a session: buildkit.go) and
// returns its ID. out, when set, receives each line of the build's output.
func (e *Engine) Build(ctx context.Context, tarContext io.Reader, o BuildOptions, out func(line string)) (string, error) {
	if e.API == nil {
		return "", fmt.Errorf("%s: build %w", e.Host, errNeedsAPI)
	}
	id, err := e.API.build(ctx, tarContext, o, out)
	e.audit([]string{"build", "-"}, err)
	return id, err
}

func (a *API) build(ctx context.Context, tarContext io.Reader, o BuildOptions, out func(string)) (string, error) {
	c, err := a.ready(ctx)
	if err != nil {
		return "", err
	}
	args := map[string]*string{}
	for k, v := range o.Args {
		args[k] = &v
	}
	resp, err := c.ImageBuild(ctx, tarContext, build.ImageBuildOptions{
		Dockerfile: o.Dockerfile, BuildArgs: args, Target: o.Target, Labels: o.Labels,
		CacheFrom: o.CacheFrom, NoCache: o.NoCache, PullParent: o.Pull, NetworkMode: o.Network,
		ExtraHosts: o.ExtraHosts, ShmSize: o.ShmSize, Platform: o.Platform,
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return "", a.classify(err)
	}
	defer resp.Body.Close()
	return readBuild(a.host, resp.Body, out)
}

// readBuild reads the build's JSON stream: the output lines, the image ID
// (the aux message), or the error it ended with.
func readBuild(host string, r io.Reader, out func(string)) (string, error) {
	var lines []string
	var id string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
			Aux    *struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Aux != nil && m.Aux.ID != "" {
			id = m.Aux.ID
		}
		streamLines(m.Stream, func(l string) {
			lines = append(lines, l)
			if out != nil {
				out(l)
			}
		})
		if m.Error != "" {
			return "", &BuildFailedError{Host: host, Message: strings.TrimSpace(m.Error), Lines: lines}
		}
	}
	return buildEnd(host, sc, id, lines)
}

// streamLines calls emit for each non-blank line of a build message's
// stream text.
func streamLines(stream string, emit func(string)) {
	for _, l := range strings.Split(strings.TrimRight(stream, "\n"), "\n") {
		if strings.TrimSpace(l) != "" {
			emit(l)
		}
	}
}

// buildEnd is how a build's stream ended: a read error, no image ID (a
// failure without an error message), or the image built.
func buildEnd(host string, sc *bufio.Scanner, id string, lines []string) (string, error) {
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: reading the build's output: %w", host, err)
	}
	if id == "" {
		return "", &BuildFailedError{Host: host, Message: "the engine gave no image ID", Lines: lines}
	}
	return id, nil
}

// Tag names an image (by ID) ref on the host.
func (e *Engine) Tag(ctx context.Context, id, ref string) error {
	if e.API == nil {
		return fmt.Errorf("%s: tag %w", e.Host, errNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err == nil {
		err = e.API.classify(c.ImageTag(ctx, id, ref))
	}
	e.audit([]string{"tag", id, ref}, err)
	return err
}

// Save streams `docker save ref` from the host: an uncompressed archive.
func (e *Engine) Save(ctx context.Context, ref string) (io.ReadCloser, error) {
	if e.API == nil {
		return nil, fmt.Errorf("%s: save %w", e.Host, errNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return nil, err
	}
	rc, err := c.ImageSave(ctx, []string{ref})
	return rc, e.API.classify(err)
}

// LabelledImage is an image carrying a label drover looks for.
type LabelledImage struct {
	ID     string
	Tags   []string
	Labels map[string]string
}

// ImagesLabelled lists the host's images that carry label=value.
func (e *Engine) ImagesLabelled(ctx context.Context, label, value string) ([]LabelledImage, error) {
	return e.ImagesWithLabels(ctx, map[string]string{label: value})
}

// ImagesWithLabels lists the host's images that carry all of labels
// (GET /images/json with one label filter each, which the engine ANDs).
func (e *Engine) ImagesWithLabels(ctx context.Context, labels map[string]string) ([]LabelledImage, error) {
	if e.API == nil {
		return nil, fmt.Errorf("%s: image list %w", e.Host, errNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return nil, err
	}
	f := filters.NewArgs()
	for k, v := range labels {
		f.Add("label", k+"="+v)
	}
	list, err := c.ImageList(ctx, image.ListOptions{Filters: f})
	if err != nil {
		return nil, e.API.classify(err)
	}
	out := make([]LabelledImage, 0, len(list))
	for _, im := range list {
		out = append(out, LabelledImage{ID: im.ID, Tags: im.RepoTags, Labels: im.Labels})
	}
	return out, nil
}

// RemoveImage removes a tag (or an image by ID); the image goes when its
// last tag does. An image a container uses is refused by the engine.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	if e.API == nil {
		return fmt.Errorf("%s: image rm %w", e.Host, errNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err == nil {
		_, err = c.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
		err = e.API.classify(err)
	}
	e.audit([]string{"image", "rm", ref}, err)
	return err
}

// ImageLayers returns the diff IDs of an image's layers on the host, in
// order; nil when the host lacks the image.
func (e *Engine) ImageLayers(ctx context.Context, ref string) ([]string, error) {
	if e.API == nil {
		return nil, fmt.Errorf("%s: image inspect %w", e.Host, errNeedsAPI)
	}
	c, err := e.API.ready(ctx)
	if err != nil {
		return nil, err
	}
	ins, err := c.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, e.API.classify(err)
	}
	return ins.RootFS.Layers, nil
}
