package imagexfer

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// fakeHost is a docker engine that loads `docker save` archives into a map.
type fakeHost struct {
	platform cluster.Platform
	mu       sync.Mutex
	images   map[string]string // ref → ID
	loads    int
	received int64
	dir      string // strictHost's scratch space
	id       string // strictHost: the ID its loads give
}

// loadID records a load whose manifest was read by the caller.
func (f *fakeHost) loadID(ms []struct{ Layers []string }, r io.Reader) (string, error) {
	io.Copy(io.Discard, r)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	f.images["lab/app:2"] = f.id
	return "Loaded image: lab/app:2", nil
}

func newFakeHost(p string) *fakeHost {
	pl, err := cluster.ParsePlatform(p)
	if err != nil {
		panic(err)
	}
	return &fakeHost{platform: pl, images: map[string]string{}}
}

func (f *fakeHost) Info(context.Context) (engine.Facts, error) {
	return engine.Facts{OS: f.platform.OS, Arch: f.platform.Arch, Variant: f.platform.Variant}, nil
}

func (f *fakeHost) ImageFacts(_ context.Context, ref string) (engine.ImageFacts, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.images[ref]
	return engine.ImageFacts{ID: id}, ok, nil
}

// Load reads the archive as docker load would: every RepoTag of
// manifest.json gets the config digest as its ID.
func (f *fakeHost) Load(_ context.Context, gz io.Reader) (string, error) {
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return "", err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return "", err
	}
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.loads++
	for _, d := range m {
		img, err := tarball.Image(opener, nil)
		if err != nil {
			return "", err
		}
		id, err := img.ConfigName()
		if err != nil {
			return "", err
		}
		for _, t := range d.RepoTags {
			f.images[familiar(t)] = id.String()
		}
	}
	return "Loaded", nil
}

// platformImage is a random one-layer image whose config says p.
func platformImage(t *testing.T, p string) v1.Image {
	t.Helper()
	pl, err := cluster.ParsePlatform(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = pl.OS, pl.Arch, pl.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// ociArchive writes a tar of an OCI layout whose index.json holds one
// index named ref (as buildx writes it) with a variant per platform and an
// attestation manifest, and returns its path and the variants' IDs.
func ociArchive(t *testing.T, ref string, plats ...string) (string, map[string]string) {
	t.Helper()
	ids := map[string]string{}
	idx := v1.ImageIndex(empty.Index)
	for _, p := range plats {
		img := platformImage(t, p)
		id, _ := img.ConfigName()
		ids[p] = id.String()
		pl, _ := cluster.ParsePlatform(p)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: pl.OS, Architecture: pl.Arch, Variant: pl.Variant}}})
	}
	att, _ := random.Image(64, 1)
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{"vnd.docker.reference.type": "attestation-manifest"}}})
	dir := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	ann := map[string]string{}
	if ref != "" {
		ann[annotationContainerdName] = "docker.io/" + ref
		ann[annotationRefName] = "v1"
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(ann)); err != nil {
		t.Fatal(err)
	}
	return tarDir(t, dir), ids
}

func tarDir(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "image.oci.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return out
}

// dockerSave writes a `docker save` tarball of one image tagged ref.
func dockerSave(t *testing.T, ref, plat string) (string, string) {
	t.Helper()
	img := platformImage(t, plat)
	id, _ := img.ConfigName()
	out := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(out, mustTag(t, ref), img); err != nil {
		t.Fatal(err)
	}
	return out, id.String()
}

type engineFacts = engine.ImageFacts

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
