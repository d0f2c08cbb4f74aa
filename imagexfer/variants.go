package imagexfer

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sync"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/internal/fanout"
)

// BuiltVariant is one platform's image of a multi-platform build: every host
// holds the one its platform runs under the build's one reference, while
// the source, which cannot hold two images under one reference, names
// each variant Source.
type BuiltVariant struct {
	Platform cluster.Platform
	ID       string
	Source   string
}

// NoVariantError: a host runs none of an image's variants.
type NoVariantError struct {
	Image     string
	Platforms []cluster.Platform
	Host      string
	Platform  cluster.Platform
}

func (e *NoVariantError) Error() string {
	return fmt.Sprintf("%s: not sending %s: it has variants for %s, the host is %s", e.Host, e.Image, cluster.PlatformList(e.Platforms), e.Platform)
}

// PushVariants sends each target lacking it the variant of ref its
// platform runs (the exact platform preferred, cluster.Platform.BestFor),
// named ref there, hosts in parallel, and checks the ID afterwards. A host
// with another variant under ref gets its own. Rows say the variant sent
// (Row.Platform). opt.HostLayers applies per host, as with Push: the
// layers of the host's previous build are those of its own platform.
func PushVariants(ctx context.Context, src Local, ref string, variants []BuiltVariant, targets []Target, opt PushOptions) ([]Row, error) {
	par := max(opt.Parallel, 1)
	platforms := make([]cluster.Platform, len(variants))
	for i, v := range variants {
		platforms[i] = v.Platform
	}
	var (
		mu   sync.Mutex
		rows []Row
		errs []error
		need = map[int][]delivery{} // by variant
	)
	notStarted := fanout.Each(ctx, par, targets, func(ctx context.Context, _ int, t Target) error {
		cur, plat, h, err := pushFacts(ctx, t, ref, opt.Observed)
		row := Row{Host: t.Name, Image: ref}
		mu.Lock()
		defer mu.Unlock()
		vi := -1
		if err == nil {
			if best, ok := plat.BestFor(platforms); ok {
				for i, v := range variants {
					if v.Platform == best {
						vi = i
					}
				}
			}
		}
		switch {
		case err != nil:
			row.Result, row.Error = Failed, engine.Reason(err)
			errs = append(errs, fmt.Errorf("%s: %w", t.Name, err))
		case vi < 0:
			e := &NoVariantError{Image: ref, Platforms: platforms, Host: t.Name, Platform: plat}
			row.Platform, row.Result, row.Error = plat.String(), Refused, e.Error()
			if opt.SkipOtherPlatforms {
				if opt.Warn != nil {
					opt.Warn(t.Name, e.Error())
				}
				row.Result = Skipped
			} else {
				errs = append(errs, e)
			}
		case cur == variants[vi].ID:
			row.Platform, row.ID, row.Result = variants[vi].Platform.String(), variants[vi].ID, UpToDate
		default:
			v := variants[vi]
			need[vi] = append(need[vi], delivery{host: t.Name, h: h, image: ref, id: v.ID, platform: v.Platform.String()})
			return nil
		}
		rows = append(rows, row)
		return nil
	})
	for i, err := range notStarted {
		if err != nil {
			rows = append(rows, Row{Host: targets[i].Name, Image: ref, Result: Failed, Error: engine.Reason(err)})
			errs = append(errs, fmt.Errorf("%s: %w", targets[i].Name, err))
		}
	}
	// The variants go at once, each to its hosts (at most par at once).
	var wg sync.WaitGroup
	var saveErrs []error
	for vi, v := range variants {
		ds := need[vi]
		if len(ds) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, sendErrs, err := sendVariant(ctx, src, v, ref, ds, targets, par, opt)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				saveErrs = append(saveErrs, err)
				return
			}
			rows, errs = append(rows, sent...), append(errs, sendErrs...)
		}()
	}
	wg.Wait()
	SortRows(rows)
	if len(saveErrs) > 0 {
		return rows, errors.Join(saveErrs...)
	}
	return rows, errors.Join(errs...)
}

// sendVariant saves variant v from src as ref and delivers it to ds.
func sendVariant(ctx context.Context, src Local, v BuiltVariant, ref string, ds []delivery, targets []Target, par int, opt PushOptions) ([]Row, []error, error) {
	f, err := saveAs(ctx, src, v.Source, ref)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	for i := range ds {
		ds[i].file = f
		if ds[i].h == nil {
			t := targetNamed(targets, ds[i].host)
			if ds[i].h, err = t.Connect(ctx); err != nil {
				ds[i].h = failingHost{err}
			}
		}
	}
	rows, errs := deliverThin(ctx, f, ds, par, opt)
	return rows, errs, nil
}

// saveAs is the source's archive of image source, named ref instead.
func saveAs(ctx context.Context, src Local, source, ref string) (*os.File, error) {
	f, err := src.Save(ctx, source)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := renamed(f, ref)
	if err != nil {
		return nil, fmt.Errorf("%s as %s: %w", source, ref, err)
	}
	return out, nil
}

// renamed writes the gzip'd `docker save` archive f of one image, with
// ref as its only name, gzip'd, to an unlinked temporary file. The image
// (config, layers) is unchanged: its ID is the same.
func renamed(f *os.File, ref string) (*os.File, error) {
	out, err := os.CreateTemp("", "drover-image-*.tar.gz")
	if err != nil {
		return nil, err
	}
	os.Remove(out.Name())
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	seen := false
	err = eachEntry(f, func(h *tar.Header, r io.Reader) error {
		switch path.Clean(h.Name) {
		case "repositories":
			return nil // the legacy names; manifest.json's win
		case "manifest.json":
			var ms []map[string]json.RawMessage
			if err := json.NewDecoder(r).Decode(&ms); err != nil {
				return fmt.Errorf("manifest.json: %w", err)
			}
			if len(ms) != 1 {
				return fmt.Errorf("an archive of %d images, want 1", len(ms))
			}
			ms[0]["RepoTags"], _ = json.Marshal([]string{ref})
			b, _ := json.Marshal(ms)
			seen = true
			hd := *h
			hd.Size = int64(len(b))
			if err := tw.WriteHeader(&hd); err != nil {
				return err
			}
			_, err := tw.Write(b)
			return err
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	if err == nil && !seen {
		err = errors.New("no manifest.json")
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}
