package imagexfer

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/drover-sh/drover/engine"
)

// LocalDocker is the docker engine of the machine running drover, through
// its docker CLI (which honours DOCKER_HOST and `docker context`): where
// `image push` and `stack deploy --push` take images from.
type LocalDocker struct{}

var _ Local = LocalDocker{}

// Image asks the local engine for an image's ID and platform.
func (LocalDocker) Image(ctx context.Context, ref string) (engine.ImageFacts, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{json .}}", ref)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		where := os.Getenv("DOCKER_HOST")
		if where == "" {
			where = "the default socket"
		}
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(err, exec.ErrNotFound) {
			return engine.ImageFacts{}, fmt.Errorf("reading image %s from the local docker engine: no docker CLI in PATH on this machine (install it, or run drover where images are built)", ref)
		}
		if localEngineDown(msg) {
			return engine.ImageFacts{}, fmt.Errorf("reading image %s: the local docker engine (%s) is unreachable: %s; start it, or point DOCKER_HOST (or `docker context use`) at one", ref, where, msg)
		}
		return engine.ImageFacts{}, fmt.Errorf("image %s not found in the local docker engine (%s): %s", ref, where, msg)
	}
	return engine.ParseImageFacts(out)
}

// localEngineDown reports whether the docker CLI's message says it could
// not reach its engine (rather than that the image is missing).
func localEngineDown(stderr string) bool {
	for _, s := range []string{"Cannot connect to the Docker daemon", "Is the docker daemon running", "error during connect", "permission denied while trying to connect"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// Save writes `docker save ref`, gzip-compressed, to an unlinked temp file
// (gone when closed, even if drover crashes).
func (LocalDocker) Save(ctx context.Context, ref string) (*os.File, error) {
	f, err := os.CreateTemp("", "drover-image-*.tar.gz")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "save", ref)
	cmd.Stdout = zw
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		f.Close()
		return nil, fmt.Errorf("docker save %s: %w: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
