package imagexfer

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/drover-sh/drover/cluster"
)

// Annotations that name an image in an OCI layout: containerd's (the full
// reference, as buildx and docker write it) and the OCI one (a full
// reference or, by the spec, only a tag).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// Format is the kind of archive.
type Format string

const (
	DockerArchive Format = "docker-archive" // `docker save`: manifest.json
	OCIArchive    Format = "oci-archive"    // OCI image layout: oci-layout, index.json
)

// Variant is one platform's image.
type Variant struct {
	Platform cluster.Platform
	// ID is the config digest, the ID docker gives the loaded image.
	ID    string
	Image v1.Image
}

// Image is one named image of an archive, with its variants.
type Image struct {
	Name     string // familiar reference ("lab/x:v1"); "" if the archive names none
	Variants []Variant
}

// Platforms lists the image's platforms.
func (im *Image) Platforms() []cluster.Platform {
	out := make([]cluster.Platform, len(im.Variants))
	for i, v := range im.Variants {
		out[i] = v.Platform
	}
	return out
}

// For picks the variant a node of platform p runs.
func (im *Image) For(p cluster.Platform) (Variant, bool) {
	best, ok := p.BestFor(im.Platforms())
	if !ok {
		return Variant{}, false
	}
	for _, v := range im.Variants {
		if v.Platform == best {
			return v, true
		}
	}
	return Variant{}, false
}

// Archive is an opened image archive. Close removes what Open unpacked.
type Archive struct {
	Path   string
	Format Format
	Images []Image
	tmp    string // unpacked copy, removed by Close
}

// Close removes the archive's unpacked copy.
func (a *Archive) Close() error {
	if a.tmp == "" {
		return nil
	}
	return os.RemoveAll(a.tmp)
}

// ErrNotAnArchive means the file is neither a `docker save` tarball nor
// an OCI image layout archive.
var ErrNotAnArchive = errors.New("not an image archive: want a `docker save` tarball or an OCI image layout archive (buildx --output type=oci)")

// Open reads an image archive: a `docker save` tarball, or a tar of an
// OCI image layout (possibly gzip-compressed), including a multi-platform
// index. Attestation manifests (platform unknown/unknown) are skipped.
func Open(path string) (*Archive, error) {
	a := &Archive{Path: path}
	src, err := a.uncompressed(path)
	if err != nil {
		a.Close()
		return nil, err
	}
	kind, err := detect(src)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	a.Format = kind
	switch kind {
	case OCIArchive:
		err = a.readOCI(src)
	default:
		err = a.readDocker(src)
	}
	if err == nil && len(a.Images) == 0 {
		err = errors.New("the archive holds no image")
	}
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

func (a *Archive) tempDir() (string, error) {
	if a.tmp == "" {
		d, err := os.MkdirTemp("", "drover-archive-*")
		if err != nil {
			return "", err
		}
		a.tmp = d
	}
	return a.tmp, nil
}

// uncompressed returns the path of the archive as a plain tar: the file
// itself, or a decompressed copy of a gzip one.
func (a *Archive) uncompressed(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return path, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	dir, err := a.tempDir()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "archive.tar")
	w, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer w.Close()
	if _, err := io.Copy(w, zr); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return out, w.Close()
}

// detect tells the format from the tar's top-level files. An archive with
// both (docker 25 and later write an OCI layout beside manifest.json) is
// read as OCI, which can hold several platforms.
func detect(path string) (Format, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	seen := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", ErrNotAnArchive
		}
		seen[strings.TrimPrefix(h.Name, "./")] = true
	}
	switch {
	case seen["oci-layout"] && seen["index.json"]:
		return OCIArchive, nil
	case seen["manifest.json"]:
		return DockerArchive, nil
	}
	return "", ErrNotAnArchive
}

func (a *Archive) readDocker(path string) error {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return err
	}
	for _, d := range m {
		var tag *name.Tag
		ref := ""
		if len(d.RepoTags) > 0 {
			t, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return fmt.Errorf("tag %q: %w", d.RepoTags[0], err)
			}
			tag, ref = &t, familiar(d.RepoTags[0])
		} else if len(m) > 1 {
			return errors.New("an untagged image among several: tag every image, or save them one per archive")
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return err
		}
		v, err := variantOf(img, nil)
		if err != nil {
			return err
		}
		a.Images = append(a.Images, Image{Name: ref, Variants: []Variant{v}})
	}
	return nil
}

func (a *Archive) readOCI(path string) error {
	dir, err := a.tempDir()
	if err != nil {
		return err
	}
	dir = filepath.Join(dir, "layout")
	if err := untar(path, dir); err != nil {
		return err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return err
	}
	byName := map[string]*Image{}
	var order []string
	add := func(ref string, v Variant) {
		im := byName[ref]
		if im == nil {
			im = &Image{Name: ref}
			byName[ref] = im
			order = append(order, ref)
		}
		for _, have := range im.Variants {
			if have.Platform == v.Platform {
				return // the same platform twice: the first wins
			}
		}
		im.Variants = append(im.Variants, v)
	}
	if err := walk(idx, "", add); err != nil {
		return err
	}
	for _, ref := range order {
		a.Images = append(a.Images, *byName[ref])
	}
	return nil
}

// walk collects the image manifests of an index and of the indexes it
// holds, named by the nearest annotation.
func walk(idx v1.ImageIndex, ref string, add func(string, Variant)) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		r := ref
		if n := nameOf(d.Annotations); n != "" {
			r = n
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return err
			}
			if err := walk(child, r, add); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return err
			}
			v, err := variantOf(img, d.Platform)
			if err != nil {
				return err
			}
			if v.Platform.OS == "unknown" || !v.Platform.Known() {
				continue
			}
			add(r, v)
		}
	}
	return nil
}

// nameOf is the image reference an annotation set gives, "" for none or
// for a bare tag (OCI's ref.name may be only "v1").
func nameOf(ann map[string]string) string {
	if n := ann[annotationContainerdName]; n != "" {
		return familiar(n)
	}
	if n := ann[annotationRefName]; strings.ContainsAny(n, ":/") {
		if _, err := name.ParseReference(n); err == nil {
			return familiar(n)
		}
	}
	return ""
}

// familiar shortens a reference the way docker prints it:
// docker.io/library/nginx:1 is nginx:1, docker.io/lab/x:v1 is lab/x:v1.
func familiar(ref string) string {
	ref = strings.TrimPrefix(ref, "docker.io/")
	ref = strings.TrimPrefix(ref, "index.docker.io/")
	return strings.TrimPrefix(ref, "library/")
}

// variantOf reads an image's platform from the index descriptor, or from
// its config when the descriptor has none.
func variantOf(img v1.Image, p *v1.Platform) (Variant, error) {
	id, err := img.ConfigName()
	if err != nil {
		return Variant{}, err
	}
	v := Variant{ID: id.String(), Image: img}
	if p != nil && p.OS != "" {
		v.Platform = cluster.Platform{OS: p.OS, Arch: p.Architecture, Variant: p.Variant}.Normalize()
		return v, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Variant{}, err
	}
	v.Platform = cluster.Platform{OS: cf.OS, Arch: cf.Architecture, Variant: cf.Variant}.Normalize()
	return v, nil
}

// untar unpacks the regular files and directories of a tar into dir,
// refusing names that would leave it.
func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		clean := filepath.Clean(h.Name)
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return fmt.Errorf("archive entry %q leaves the archive", h.Name)
		}
		target := filepath.Join(dir, clean)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			w, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// Names lists the archive's image names, sorted, for messages.
func (a *Archive) Names() []string {
	var out []string
	for _, im := range a.Images {
		out = append(out, orNone(im.Name))
	}
	sort.Strings(out)
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}
