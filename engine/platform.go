package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// GoVariant is the CPU variant of a uname -m name, as OCI platforms name
// it: v7 for armv7l, v6 for armv6l, "" where the architecture has one
// variant that matters (arm64's v8 is implied).
func GoVariant(a string) string {
	switch a {
	case "armv7l":
		return "v7"
	case "armv6l":
		return "v6"
	}
	return ""
}

// ImageFacts are what the engine says about one image it holds.
type ImageFacts struct {
	ID       string           `json:"id"`
	Platform cluster.Platform `json:"platform"`
	Size     int64            `json:"size"`
}

// imageInspect is the subset of a local `docker image inspect` used
// (ParseImageFacts, for the images of the machine drover runs on). Variant is
// absent on engines before 20.10's containerd integration and on images
// that have none, hence JSON rather than a {{.Variant}} template, which
// fails where the field does not exist.
type imageInspect struct {
	ID           string `json:"Id"`
	Os           string
	Architecture string
	Variant      string
	Size         int64
}

// ParseImageFacts reads `docker image inspect --format '{{json .}}'`.
func ParseImageFacts(out []byte) (ImageFacts, error) {
	var ii imageInspect
	if err := json.Unmarshal(firstJSONLine(out), &ii); err != nil {
		return ImageFacts{}, fmt.Errorf("cannot parse docker image inspect: %w", err)
	}
	return ImageFacts{ID: ii.ID, Size: ii.Size,
		Platform: cluster.Platform{OS: ii.Os, Arch: ii.Architecture, Variant: ii.Variant}.Normalize()}, nil
}

// ImageFacts returns the ID, platform and size of an image on the host;
// ok is false when the host does not have it.
func (e *Engine) ImageFacts(ctx context.Context, ref string) (f ImageFacts, ok bool, err error) {
	return e.API.imageFacts(ctx, ref)
}

// ImagesFacts is ImageFacts for several images, keyed by the references
// asked for; images the host lacks are left out. The inspects share the
// host's kept-alive stream: one request each, no new process.
func (e *Engine) ImagesFacts(ctx context.Context, refs []string) (map[string]ImageFacts, error) {
	out := make(map[string]ImageFacts, len(refs))
	for _, ref := range refs {
		f, ok, err := e.API.imageFacts(ctx, ref)
		if err != nil {
			return nil, err
		}
		if ok {
			out[ref] = f
		}
	}
	return out, nil
}

// firstJSONLine skips what a local docker CLI prints before its JSON
// (warnings) when ParseImageFacts reads its output.
func firstJSONLine(out []byte) []byte {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			return []byte(l)
		}
	}
	return out
}
