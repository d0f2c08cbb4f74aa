package imagexfer

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/drover-sh/drover/engine"
)

// HostEngine is what a cluster host must do to be the source of a push
// (engine.Engine does).
type HostEngine interface {
	ImageFacts(ctx context.Context, ref string) (engine.ImageFacts, bool, error)
	Save(ctx context.Context, ref string) (io.ReadCloser, error)
}

var _ HostEngine = (*engine.Engine)(nil)

// FromHost is a push source on a cluster host (the image was built
// there, x-drover.build_on): the archive comes over the run's SSH
// connection from the host engine's GET /images/get, and goes to the
// other hosts as from the local engine.
type FromHost struct {
	Host   string
	Engine HostEngine
}

var _ Local = FromHost{}

func (f FromHost) Image(ctx context.Context, ref string) (engine.ImageFacts, error) {
	facts, ok, err := f.Engine.ImageFacts(ctx, ref)
	if err != nil {
		return facts, fmt.Errorf("%s: image %s: %w", f.Host, ref, err)
	}
	if !ok {
		return facts, fmt.Errorf("%s: no image %s", f.Host, ref)
	}
	return facts, nil
}

// Save writes the host's `docker save ref`, gzip'd (fastest level), to an
// unlinked temporary file.
func (f FromHost) Save(ctx context.Context, ref string) (*os.File, error) {
	rc, err := f.Engine.Save(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: save %s: %w", f.Host, ref, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "drover-image-*.tar.gz")
	if err != nil {
		return nil, err
	}
	os.Remove(tmp.Name()) // unlinked: gone when closed, even if we crash
	zw, _ := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if _, err := io.Copy(zw, rc); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%s: save %s: %w", f.Host, ref, err)
	}
	if err := zw.Close(); err != nil {
		tmp.Close()
		return nil, err
	}
	return tmp, nil
}
