// Command mkoci makes multi-platform test images without Docker or a
// registry, from a `docker save` tarball (one of build-test-images.sh's):
// an OCI image layout archive with one variant per platform, named as
// `docker buildx build --output type=oci` names it, or with -docker a
// `docker save` tarball of a single variant.
//
// -from may be given once per platform: a platform's variant is the source
// of that platform with its env extended; a platform no source has gets
// the first source's files under a config saying that platform (labelled
// drover.test/fake-platform): for platform checks, not for running.
//
//	mkoci -from app-v1.tar -name drover-test/multi:v1 -platforms linux/amd64,linux/arm64 -o multi-v1.oci.tar
//	mkoci -from app-v1.tar -from app386-v1.tar -name drover-test/multi386:v1 -platforms linux/amd64,linux/386 -o multi386-v1.oci.tar
//	mkoci -from app-v1.tar -name drover-test/arm:v1 -platforms linux/arm64 -docker -o arm-v1.tar
package main

import (
	"archive/tar"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	var from sources
	flag.Var(&from, "from", "source `docker save` tarball (one image; repeatable, one per platform)")
	ref := flag.String("name", "", "image name, e.g. drover-test/multi:v1")
	plats := flag.String("platforms", "linux/amd64,linux/arm64", "comma-separated os/arch[/variant]")
	env := flag.String("env", "", "K=V set in every variant's config (makes a new image ID)")
	docker := flag.Bool("docker", false, "write a `docker save` tarball of the one platform instead of an OCI archive")
	out := flag.String("o", "", "output file")
	flag.Parse()
	if len(from) == 0 || *ref == "" || *out == "" {
		fail("usage: mkoci -from SRC.tar [-from SRC.tar...] -name NAME:TAG [-platforms P,...] [-env K=V] [-docker] -o OUT")
	}
	tag, err := name.NewTag(*ref)
	check(err)
	var srcs []v1.Image
	for _, f := range from {
		src, err := tarball.ImageFromPath(f, nil)
		check(err)
		srcs = append(srcs, src)
	}
	var variants []v1.Image
	var platforms []v1.Platform
	for _, p := range strings.Split(*plats, ",") {
		parts := strings.Split(p, "/")
		if len(parts) < 2 {
			fail("platform " + p + ": want os/arch[/variant]")
		}
		pl := v1.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) > 2 {
			pl.Variant = parts[2]
		}
		src := pickSource(srcs, pl)
		cf, err := src.ConfigFile()
		check(err)
		cf = cf.DeepCopy()
		if cf.OS != pl.OS || cf.Architecture != pl.Architecture {
			if cf.Config.Labels == nil {
				cf.Config.Labels = map[string]string{}
			}
			cf.Config.Labels["drover.test/fake-platform"] = p
		}
		cf.OS, cf.Architecture, cf.Variant = pl.OS, pl.Architecture, pl.Variant
		if *env != "" {
			cf.Config.Env = setEnv(cf.Config.Env, *env)
		}
		img, err := mutate.ConfigFile(src, cf)
		check(err)
		variants = append(variants, img)
		platforms = append(platforms, pl)
	}
	if *docker {
		if len(variants) != 1 {
			fail("-docker writes one platform")
		}
		check(tarball.WriteToFile(*out, tag, variants[0]))
		report(variants, platforms)
		return
	}
	idx := v1.ImageIndex(empty.Index)
	for i, img := range variants {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &platforms[i]}})
	}
	dir, err := os.MkdirTemp("", "mkoci-*")
	check(err)
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	check(err)
	// As buildx names it: the full name for containerd, the tag for OCI.
	check(lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          "docker.io/" + strings.TrimPrefix(tag.String(), "docker.io/"),
		"org.opencontainers.image.ref.name": tag.TagStr(),
	})))
	check(tarDir(dir, *out))
	report(variants, platforms)
}

// setEnv replaces the variable of kv in env, or appends it: a process sees
// the first of two same-named variables.
func setEnv(env []string, kv string) []string {
	k, _, _ := strings.Cut(kv, "=")
	out := append([]string(nil), env...)
	for i, e := range out {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			out[i] = kv
			return out
		}
	}
	return append(out, kv)
}

type sources []string

func (s *sources) String() string     { return strings.Join(*s, ",") }
func (s *sources) Set(v string) error { *s = append(*s, v); return nil }

// pickSource is the source whose config says platform p, else the first.
func pickSource(srcs []v1.Image, p v1.Platform) v1.Image {
	for _, src := range srcs {
		cf, err := src.ConfigFile()
		check(err)
		if cf.OS == p.OS && cf.Architecture == p.Architecture && cf.Variant == p.Variant {
			return src
		}
	}
	return srcs[0]
}

func report(imgs []v1.Image, ps []v1.Platform) {
	for i, img := range imgs {
		id, err := img.ConfigName()
		check(err)
		fmt.Printf("%s %s\n", id, ps[i].String())
	}
}

func tarDir(dir, out string) error {
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
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
		if err := tw.WriteHeader(h); err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "mkoci:", msg)
	os.Exit(2)
}
