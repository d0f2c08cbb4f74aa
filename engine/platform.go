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

// imageInspect is the subset of `docker image inspect` used. Variant is
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
	out, err := e.read(ctx, "image", "inspect", "--format", "{{json .}}", ref)
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "no such image") {
			return ImageFacts{}, false, nil
		}
		return ImageFacts{}, false, classify(err)
	}
	f, err = ParseImageFacts(out)
	return f, err == nil, err
}

// ImagesFacts is ImageFacts for several images in one round trip, keyed by
// the references asked for. Images the host lacks are left out. docker
// prints one line per image it found, in the order asked, so a missing one
// makes the lines ambiguous: then each image is asked on its own.
func (e *Engine) ImagesFacts(ctx context.Context, refs []string) (map[string]ImageFacts, error) {
	out := make(map[string]ImageFacts, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	stdout, err := e.read(ctx, append([]string{"image", "inspect", "--format", "{{json .}}"}, refs...)...)
	if err == nil {
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "{") {
				lines = append(lines, l)
			}
		}
		if len(lines) == len(refs) {
			for i, l := range lines {
				f, err := ParseImageFacts([]byte(l))
				if err != nil {
					return nil, err
				}
				out[refs[i]] = f
			}
			return out, nil
		}
	} else if !strings.Contains(strings.ToLower(err.Error()), "no such image") {
		return nil, classify(err)
	}
	for _, ref := range refs {
		f, ok, err := e.ImageFacts(ctx, ref)
		if err != nil {
			return nil, err
		}
		if ok {
			out[ref] = f
		}
	}
	return out, nil
}
