package imagexfer

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
)

// A host that already has an image's first layers (the same chain: the
// previous build of a service, whose base and dependency layers a new
// build shares) needs only the others. docker's image store reads a layer
// file of a `docker load` archive only when it lacks that layer, so a
// thin archive, without the files of the layers the host has, loads as
// the full one would. An engine that needs every file (the containerd
// image store) refuses the thin archive: Push then sends the full one.

// archiveLayers reads the layer files of a gzip'd `docker save` archive of
// one image, in order, and the layers' diff IDs from its config.
func archiveLayers(f *os.File) (files, diffIDs []string, err error) {
	type manifest struct {
		Config string
		Layers []string
	}
	var ms []manifest
	configs := map[string][]byte{}
	err = eachEntry(f, func(h *tar.Header, r io.Reader) error {
		name := path.Clean(h.Name)
		switch {
		case name == "manifest.json":
			return json.NewDecoder(r).Decode(&ms)
		case h.Size < 256<<10:
			// The config is named by the manifest, which may come last;
			// configs are small, and big layers are not read.
			b, err := io.ReadAll(r)
			configs[name] = b
			return err
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(ms) != 1 {
		return nil, nil, fmt.Errorf("archive of %d images, want 1", len(ms))
	}
	var cfg struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(configs[path.Clean(ms[0].Config)], &cfg); err != nil {
		return nil, nil, fmt.Errorf("image config %s: %w", ms[0].Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(ms[0].Layers) {
		return nil, nil, fmt.Errorf("%d layers and %d diff IDs", len(ms[0].Layers), len(cfg.RootFS.DiffIDs))
	}
	return ms[0].Layers, cfg.RootFS.DiffIDs, nil
}

// eachEntry calls fn for each entry of the gzip'd tar f, from its start.
func eachEntry(f *os.File, fn func(*tar.Header, io.Reader) error) error {
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return err
	}
	return EachTarEntry(zr, fn)
}

// EachTarEntry calls fn for each entry of the tar stream r.
func EachTarEntry(r io.Reader, fn func(*tar.Header, io.Reader) error) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

// commonLayers is how many first layers two images share.
func commonLayers(a, b []string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// thinArchive writes f without the files of its first skip layers, gzip'd,
// to an unlinked temporary file.
func thinArchive(f *os.File, layerFiles []string, skip int) (*os.File, error) {
	drop := map[string]bool{}
	for _, l := range layerFiles[:skip] {
		drop[path.Clean(l)] = true
	}
	out, err := os.CreateTemp("", "drover-image-thin-*.tar.gz")
	if err != nil {
		return nil, err
	}
	os.Remove(out.Name())
	zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	err = eachEntry(f, func(h *tar.Header, r io.Reader) error {
		if drop[path.Clean(h.Name)] {
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("thin archive: %w", err)
	}
	return out, nil
}
