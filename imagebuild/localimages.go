package imagebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/engine"
)

// The local engine's built images, for prune: the machine running drover
// keeps a copy of every image it built and shipped.

// ErrImageInUse: the engine refused to remove an image a container uses.
var ErrImageInUse = errors.New("image in use by a container")

// EngineID is the local engine's ID (docker info's), to tell whether the
// local engine is one of the cluster's hosts (the same engine).
func (l *Local) EngineID(ctx context.Context) (string, error) {
	out, err := l.docker(ctx, "info", "--format", "{{.ID}}")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// ImagesLabelled lists the local engine's images that carry label=value.
func (l *Local) ImagesLabelled(ctx context.Context, label, value string) ([]engine.LabelledImage, error) {
	ids, err := l.docker(ctx, "image", "ls", "--quiet", "--no-trunc", "--filter", "label="+label+"="+value)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	args := []string{"image", "inspect", "--format", "{{json .}}"}
	for _, id := range strings.Fields(ids) {
		if !seen[id] {
			seen[id] = true
			args = append(args, id)
		}
	}
	if len(seen) == 0 {
		return nil, nil
	}
	out, err := l.docker(ctx, args...)
	if err != nil {
		return nil, err
	}
	return parseLocalImages(out)
}

// parseLocalImages reads `docker image inspect --format '{{json .}}'`
// of several images: one document a line.
func parseLocalImages(out string) ([]engine.LabelledImage, error) {
	var list []engine.LabelledImage
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var im struct {
			ID       string   `json:"Id"`
			RepoTags []string `json:"RepoTags"`
			Config   struct {
				Labels map[string]string `json:"Labels"`
			} `json:"Config"`
		}
		if err := json.Unmarshal([]byte(line), &im); err != nil {
			return nil, fmt.Errorf("docker image inspect: %w", err)
		}
		list = append(list, engine.LabelledImage{ID: im.ID, Tags: im.RepoTags, Labels: im.Config.Labels})
	}
	return list, nil
}

// RemoveImage removes a tag (or an image by ID) from the local engine;
// an image a container uses is refused with ErrImageInUse.
func (l *Local) RemoveImage(ctx context.Context, ref string) error {
	_, err := l.docker(ctx, "image", "rm", ref)
	var de *dockerError
	if errors.As(err, &de) && strings.Contains(de.stderr, "conflict:") {
		return fmt.Errorf("%s: %w", ref, ErrImageInUse)
	}
	return err
}

// dockerError is a docker command of the local CLI that failed.
type dockerError struct {
	args   []string
	stderr string
	err    error
}

func (e *dockerError) Error() string {
	msg := e.stderr
	if msg == "" {
		msg = e.err.Error()
	}
	return fmt.Sprintf("docker %s: %s", strings.Join(e.args[:min(2, len(e.args))], " "), msg)
}

func (e *dockerError) Unwrap() error { return e.err }

// docker runs the local CLI and returns its stdout.
func (l *Local) docker(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	if err := l.Docker.Run(ctx, args, nil, nil, &out, &errb); err != nil {
		return "", &dockerError{args: args, stderr: strings.TrimSpace(errb.String()), err: err}
	}
	return out.String(), nil
}

// ImageID is the ID of image ref in the local engine; found is false when
// the engine answers that it has no such image.
func (l *Local) ImageID(ctx context.Context, ref string) (id string, found bool, err error) {
	out, err := l.docker(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
	var de *dockerError
	if errors.As(err, &de) && strings.Contains(strings.ToLower(de.stderr), "no such image") {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(out), true, nil
}
