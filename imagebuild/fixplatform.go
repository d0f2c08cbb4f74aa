package imagebuild

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/imagexfer"
)

// The classic builder of a 20.10 engine records its own architecture for
// a FROM scratch image whose first step is not a COPY or ADD, and its
// build cache does not tell platforms apart: a step cached by a build for
// one platform is reused, with its platform, by a build for another. The
// image's config may then say another platform than the one asked for
// (BuildKit always records the one asked for). drover checks every build
// and, when the config says another platform, makes a copy of the image
// whose config says the requested one: the same layers, a config differing
// only in os/architecture/variant, so a new ID, the same for the same
// build (a no-change build stays a no-change deploy).

// scratchMismatch says a build failed on the classic builder's platform
// check of an image it made itself: a step after FROM scratch (ARG, ENV…)
// before the first COPY gives an image of the engine's platform, which the
// COPY then refuses for the one asked for. A real base image of the
// platform asked for gives no such image, so the chain is scratch's.
func scratchMismatch(err error) bool {
	var be *BuildError
	if !errors.As(err, &be) {
		return false
	}
	const msg = "does not match the specified platform"
	if strings.Contains(be.Err.Error(), msg) {
		return true
	}
	for _, l := range be.Lines {
		if strings.Contains(l, msg) {
			return true
		}
	}
	return false
}

// checkPlatform returns the ID of the image to use for a build of want:
// id itself when its config says want (or want is unknown), else the
// copy SetPlatform makes.
func checkPlatform(ctx context.Context, bl Builder, id string, want cluster.Platform) (string, cluster.Platform, error) {
	facts, err := bl.Image(ctx, id)
	if err != nil {
		return "", cluster.Platform{}, fmt.Errorf("reading the built image %s on %s: %w", Tag(id), bl.Describe(), err)
	}
	if !want.Known() || facts.Platform.Normalize() == want.Normalize() {
		if !want.Known() {
			want = facts.Platform
		}
		return id, want, nil
	}
	fixed, err := bl.SetPlatform(ctx, id, want)
	if err != nil {
		return "", cluster.Platform{}, fmt.Errorf("the build for %s came out as %s (the classic builder's FROM scratch and cache), and setting its platform failed: %w", want, facts.Platform, err)
	}
	return fixed, want, nil
}

// setPlatform reads a `docker save` archive of one image (ID from) from r
// and writes to w an archive of the same image whose config says p and
// carries the label LabelPlatformOf=from, without a name; it returns the
// new image's ID (the digest of its config).
func setPlatform(r io.Reader, w io.Writer, from string, p cluster.Platform) (string, error) {
	tmp, err := os.CreateTemp("", "drover-image-*.tar")
	if err != nil {
		return "", err
	}
	defer tmp.Close()
	os.Remove(tmp.Name()) // unlinked: gone when closed
	if _, err := io.Copy(tmp, r); err != nil {
		return "", fmt.Errorf("saving the image: %w", err)
	}
	type manifest struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	var ms []manifest
	configs := map[string][]byte{}
	err = imagexfer.EachTarEntry(io.NewSectionReader(tmp, 0, 1<<62), func(h *tar.Header, r io.Reader) error {
		name := path.Clean(h.Name)
		switch {
		case name == "manifest.json":
			return json.NewDecoder(r).Decode(&ms)
		case path.Ext(name) == ".json" && path.Dir(name) == ".":
			b, err := io.ReadAll(r)
			configs[name] = b
			return err
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading the image archive: %w", err)
	}
	if len(ms) != 1 {
		return "", fmt.Errorf("an archive of %d images, want 1", len(ms))
	}
	oldConfig := path.Clean(ms[0].Config)
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(configs[oldConfig], &cfg); err != nil {
		return "", fmt.Errorf("image config %s: %w", oldConfig, err)
	}
	// The copy names the image it was made from, which a next build
	// reuses from the build cache: prune keeps it while it keeps the copy.
	var inner map[string]json.RawMessage
	if raw := cfg["config"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &inner); err != nil {
			return "", fmt.Errorf("image config %s: %w", oldConfig, err)
		}
	}
	if inner == nil {
		inner = map[string]json.RawMessage{}
	}
	labels := map[string]string{}
	if raw := inner["Labels"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &labels); err != nil {
			return "", fmt.Errorf("image config %s: labels: %w", oldConfig, err)
		}
	}
	labels[LabelPlatformOf] = from
	inner["Labels"], _ = json.Marshal(labels)
	cfg["config"], _ = json.Marshal(inner)
	cfg["os"], _ = json.Marshal(p.OS)
	cfg["architecture"], _ = json.Marshal(p.Arch)
	delete(cfg, "variant")
	if p.Variant != "" {
		cfg["variant"], _ = json.Marshal(p.Variant)
	}
	newConfig, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(newConfig)
	id := hex.EncodeToString(sum[:])
	ms[0].Config, ms[0].RepoTags = id+".json", nil
	newManifest, _ := json.Marshal(ms)
	tw := tar.NewWriter(w)
	write := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	err = imagexfer.EachTarEntry(io.NewSectionReader(tmp, 0, 1<<62), func(h *tar.Header, r io.Reader) error {
		switch name := path.Clean(h.Name); name {
		case "manifest.json", "repositories", oldConfig:
			return nil
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	})
	if err == nil {
		err = write(id+".json", newConfig)
	}
	if err == nil {
		err = write("manifest.json", newManifest)
	}
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		return "", fmt.Errorf("writing the image archive: %w", err)
	}
	return "sha256:" + id, nil
}
