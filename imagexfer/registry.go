package imagexfer

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/drover-sh/drover/cluster"
)

// RegistryPlatforms asks an image's registry for the platforms it serves
// under ref: those of its manifest list (attestations skipped), or of its
// one image. It uses the docker CLI's credentials of this machine
// (~/.docker/config.json), which may differ from the hosts'; callers treat
// an error as "unknown". opts are for tests (e.g. remote.WithTransport).
func RegistryPlatforms(ctx context.Context, ref string, opts ...remote.Option) ([]cluster.Platform, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		var out []cluster.Platform
		for _, m := range im.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" || m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
				continue
			}
			out = append(out, cluster.Platform{OS: m.Platform.OS, Arch: m.Platform.Architecture, Variant: m.Platform.Variant}.Normalize())
		}
		return out, nil
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	p := cluster.Platform{OS: cf.OS, Arch: cf.Architecture, Variant: cf.Variant}.Normalize()
	if !p.Known() {
		return nil, fmt.Errorf("%s: the image's config names no platform", ref)
	}
	return []cluster.Platform{p}, nil
}
