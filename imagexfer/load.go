package imagexfer

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/internal/fanout"
)

// Host is what loading needs from one host's engine (*engine.Engine).
type Host interface {
	Info(ctx context.Context) (engine.Facts, error)
	ImageFacts(ctx context.Context, ref string) (engine.ImageFacts, bool, error)
	Load(ctx context.Context, gz io.Reader) (string, error)
}

var _ Host = (*engine.Engine)(nil)

// Target is a host to load onto, by inventory name.
type Target struct {
	Name string
	// Connect opens the host's engine; an error marks the host failed.
	Connect func(ctx context.Context) (Host, error)
}

// Result of one (host, image).
type Result string

const (
	Loaded   Result = "loaded" // image load
	Pushed   Result = "pushed" // image push
	UpToDate Result = "up to date"
	Skipped  Result = "skipped" // no variant for the host's platform; push: --push to a host of another platform
	Refused  Result = "refused" // image push to a host of another platform
	Failed   Result = "failed"
)

// Row is the outcome of one image on one host.
type Row struct {
	Host     string `json:"host"`
	Image    string `json:"image"`
	Platform string `json:"platform,omitempty"` // the variant sent, or the host's when skipped
	ID       string `json:"id,omitempty"`
	Result   Result `json:"result"`
	Bytes    int64  `json:"bytes,omitempty"` // sent, compressed
	// LayersSkipped is how many of the image's layers were not sent
	// because the host had them (PushOptions.HostLayers).
	LayersSkipped int     `json:"layers_skipped,omitempty"`
	Seconds       float64 `json:"seconds,omitempty"`
	Error         string  `json:"error,omitempty"`
}

// Options tune a load.
type Options struct {
	Tag      string // names the image instead of the archive's name
	Parallel int    // hosts at once; < 1 means 1
	// Warn is told about hosts skipped for want of a variant.
	Warn     func(host, msg string)
	Reporter Reporter // nil: NopReporter
}

// LoadArchive puts every image of the archive on the targets lacking it:
// each host gets the variant for its own platform, compressed, hosts in
// parallel, and the image ID is checked afterwards. A host with no
// matching variant is skipped with a warning (not an error).
func LoadArchive(ctx context.Context, a *Archive, targets []Target, opt Options) ([]Row, error) {
	images := a.Images
	if opt.Tag != "" {
		if len(images) != 1 {
			return nil, fmt.Errorf("--tag names one image, but %s holds %d (%v)", a.Path, len(images), a.Names())
		}
		if _, err := name.NewTag(opt.Tag); err != nil {
			return nil, fmt.Errorf("--tag %q: %w", opt.Tag, err)
		}
		images = []Image{{Name: opt.Tag, Variants: images[0].Variants}}
	}
	for _, im := range images {
		if im.Name == "" {
			return nil, fmt.Errorf("%s names no image (no io.containerd.image.name or org.opencontainers.image.ref.name annotation, no RepoTags): give one with --tag NAME:TAG", a.Path)
		}
	}
	par := max(opt.Parallel, 1)
	facts := inspect(ctx, targets, images, par)

	var rows []Row
	var errs []error
	type send struct {
		host  string
		h     Host
		image string
		v     Variant
	}
	var sends []send
	for i, t := range targets {
		f := facts[i]
		for _, im := range images {
			if f.err != nil {
				rows = append(rows, Row{Host: t.Name, Image: im.Name, Result: Failed, Error: engine.Reason(f.err)})
				errs = append(errs, fmt.Errorf("%s: %w", t.Name, f.err))
				continue
			}
			v, ok := im.For(f.platform)
			if !ok {
				msg := fmt.Sprintf("%s has no variant for %s (platforms %s): skipped", im.Name, f.platform, cluster.PlatformList(im.Platforms()))
				if opt.Warn != nil {
					opt.Warn(t.Name, msg)
				}
				rows = append(rows, Row{Host: t.Name, Image: im.Name, Platform: f.platform.String(), Result: Skipped, Error: msg})
				continue
			}
			if f.have[im.Name] == v.ID {
				rows = append(rows, Row{Host: t.Name, Image: im.Name, Platform: v.Platform.String(), ID: v.ID, Result: UpToDate})
				continue
			}
			sends = append(sends, send{host: t.Name, h: f.host, image: im.Name, v: v})
		}
	}

	// One compressed docker archive per (image, variant), shared by the
	// hosts that need it.
	type key struct{ image, id string }
	files := map[key]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, s := range sends {
		k := key{s.image, s.v.ID}
		if files[k] != nil {
			continue
		}
		f, err := dockerArchive(s.image, s.v)
		if err != nil {
			return rows, fmt.Errorf("%s (%s): %w", s.image, s.v.Platform, err)
		}
		files[k] = f
	}

	ds := make([]delivery, len(sends))
	for i, s := range sends {
		ds[i] = delivery{host: s.host, h: s.h, image: s.image, id: s.v.ID, platform: s.v.Platform.String(), file: files[key{s.image, s.v.ID}]}
	}
	sent, sendErrs := deliver(ctx, ds, par, Loaded, opt.Reporter)
	rows, errs = append(rows, sent...), append(errs, sendErrs...)
	SortRows(rows)
	return rows, errors.Join(errs...)
}

// SortRows orders rows by image, then host.
func SortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Image != rows[j].Image {
			return rows[i].Image < rows[j].Image
		}
		return rows[i].Host < rows[j].Host
	})
}

// hostFacts is what a host said before the transfer.
type hostFacts struct {
	host     Host
	platform cluster.Platform
	have     map[string]string // image → ID present
	err      error
}

// inspect asks every target, in parallel, for its platform and the IDs of
// the images it has.
func inspect(ctx context.Context, targets []Target, images []Image, par int) []hostFacts {
	out := make([]hostFacts, len(targets))
	errs := fanout.Each(ctx, par, targets, func(ctx context.Context, i int, t Target) error {
		hf := &out[i]
		var err error
		if hf.host, err = t.Connect(ctx); err != nil {
			return err
		}
		info, err := hf.host.Info(ctx)
		if err != nil {
			return err
		}
		hf.platform = cluster.Platform{OS: info.OS, Arch: info.Arch, Variant: info.Variant}
		hf.have = map[string]string{}
		for _, im := range images {
			f, ok, err := hf.host.ImageFacts(ctx, im.Name)
			if err != nil {
				return err
			}
			if ok {
				hf.have[im.Name] = f.ID
			}
		}
		return nil
	})
	for i, err := range errs {
		out[i].err = err
	}
	return out
}

// dockerArchive writes the variant as a gzip'd `docker save` archive
// tagged ref, to an unlinked temp file (gone when closed, even if we crash).
func dockerArchive(ref string, v Variant) (*os.File, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "drover-load-*.tar.gz")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err := tarball.Write(tag, v.Image, zw); err != nil {
		f.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
