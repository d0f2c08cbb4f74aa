package imagebuild

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// Image asks the local engine for a built image's ID and platform.
func (l *Local) Image(ctx context.Context, id string) (engine.ImageFacts, error) {
	var out, errb bytes.Buffer
	if err := l.Docker.Run(ctx, []string{"image", "inspect", "--format", "{{json .}}", id}, nil, nil, &out, &errb); err != nil {
		return engine.ImageFacts{}, fmt.Errorf("docker image inspect %s (%s): %w: %s", Tag(id), l.Where, err, strings.TrimSpace(errb.String()))
	}
	return engine.ParseImageFacts(out.Bytes())
}

// SetPlatform copies image id in the local engine with a config saying p
// (docker save, the config rewritten, docker load).
func (l *Local) SetPlatform(ctx context.Context, id string, p cluster.Platform) (string, error) {
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	go func() {
		pw.CloseWithError(l.Docker.Run(ctx, []string{"save", id}, nil, nil, pw, &errb))
	}()
	out, err := os.CreateTemp("", "drover-image-*.tar")
	if err != nil {
		pr.Close()
		return "", err
	}
	defer out.Close()
	os.Remove(out.Name())
	newID, err := setPlatform(pr, out, id, p)
	pr.Close()
	if err != nil {
		return "", fmt.Errorf("docker save %s (%s): %w %s", Tag(id), l.Where, err, strings.TrimSpace(errb.String()))
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	errb.Reset()
	if err := l.Docker.Run(ctx, []string{"load", "-q"}, nil, out, io.Discard, &errb); err != nil {
		return "", fmt.Errorf("docker load (%s): %w: %s", l.Where, err, strings.TrimSpace(errb.String()))
	}
	return newID, nil
}

// Image asks the build host for a built image's ID and platform.
func (r *Remote) Image(ctx context.Context, id string) (engine.ImageFacts, error) {
	f, ok, err := r.Engine.ImageFacts(ctx, id)
	if err == nil && !ok {
		err = fmt.Errorf("no image %s", Tag(id))
	}
	if err != nil {
		return f, fmt.Errorf("%s: %w", r.Host, err)
	}
	return f, nil
}

// SetPlatform copies image id on the build host with a config saying p
// (GET /images/get, the config rewritten, POST /images/load).
func (r *Remote) SetPlatform(ctx context.Context, id string, p cluster.Platform) (string, error) {
	rc, err := r.Engine.Save(ctx, id)
	if err != nil {
		return "", fmt.Errorf("%s: save %s: %w", r.Host, Tag(id), err)
	}
	defer rc.Close()
	out, err := os.CreateTemp("", "drover-image-*.tar.gz")
	if err != nil {
		return "", err
	}
	defer out.Close()
	os.Remove(out.Name())
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
	newID, err := setPlatform(rc, zw, id, p)
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", fmt.Errorf("%s: image %s: %w", r.Host, Tag(id), err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	if _, err := r.Engine.Load(ctx, out); err != nil {
		return "", fmt.Errorf("%s: load: %w", r.Host, err)
	}
	return newID, nil
}
