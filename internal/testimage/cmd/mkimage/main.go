// Command mkimage writes a docker-archive tarball (for `docker load`) without
// a Docker engine, using package testimage.
//
// One image from flags:
//
//	mkimage -binary ./app -tag drover-test/app:v1 [-tag ...] [-env K=V ...]
//	        [-label K=V ...] [-port 8080/tcp ...] [-healthcheck]
//	        [-pad-size BYTES [-pad-path data/blob.bin] [-pad-seed S]]
//	        [-arch 386] -o out.tar
//
// The image's architecture is the binary's (its ELF header: amd64, 386,
// arm64), or -arch; a binary that is not ELF makes an amd64 image.
//
// Several images in one tarball (layers shared where equal):
//
//	mkimage -spec images.json -o all.tar
//
// where images.json is a list of objects with the same fields as the flags:
//
//	[{"tags":["drover-test/app:v1"],"binary":"./app","env":["VERSION=v1"],"healthcheck":true}, ...]
//
// It prints one line per image: ID, layer size, tags.
package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/drover-sh/drover/internal/testimage"
)

type spec struct {
	Tags        []string          `json:"tags"`
	Binary      string            `json:"binary"`
	Env         []string          `json:"env"`
	Labels      map[string]string `json:"labels"`
	Ports       []string          `json:"ports"`
	Healthcheck bool              `json:"healthcheck"`
	HCPort      string            `json:"healthcheck_port"`
	PadSize     int               `json:"pad_size"`
	PadPath     string            `json:"pad_path"`
	PadSeed     string            `json:"pad_seed"`
	Arch        string            `json:"architecture"`
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		s                 spec
		tags, env, labels list
		ports             list
		specFile, out     string
	)
	flag.StringVar(&s.Binary, "binary", "", "static binary to put at /app (entrypoint)")
	flag.Var(&tags, "tag", "repo:tag (repeatable)")
	flag.Var(&env, "env", "K=V baked into the image config (repeatable)")
	flag.Var(&labels, "label", "K=V image label (repeatable)")
	flag.Var(&ports, "port", "exposed port, e.g. 8080/tcp (repeatable; default 8080/tcp)")
	flag.BoolVar(&s.Healthcheck, "healthcheck", false, "add HEALTHCHECK /app -check http://127.0.0.1:PORT/health (1s interval, 3 retries)")
	flag.StringVar(&s.HCPort, "healthcheck-port", "8080", "port the healthcheck probes")
	flag.IntVar(&s.PadSize, "pad-size", 0, "add a deterministic pseudo-random file of this many bytes")
	flag.StringVar(&s.PadPath, "pad-path", "data/blob.bin", "path of the pad file")
	flag.StringVar(&s.PadSeed, "pad-seed", "drover", "seed of the pad file")
	flag.StringVar(&s.Arch, "arch", "", "image architecture (default: the binary's, from its ELF header)")
	flag.StringVar(&specFile, "spec", "", "JSON list of images (instead of the single-image flags)")
	flag.StringVar(&out, "o", "", "output tarball")
	flag.Parse()
	if out == "" || flag.NArg() != 0 {
		fail("usage: mkimage (-binary PATH -tag T ... | -spec FILE) -o OUT.tar  (-h for flags)")
	}

	var specs []spec
	if specFile != "" {
		b, err := os.ReadFile(specFile)
		if err != nil {
			fail(err.Error())
		}
		if err := json.Unmarshal(b, &specs); err != nil {
			fail(fmt.Sprintf("%s: %v", specFile, err))
		}
		base := filepath.Dir(specFile)
		for i := range specs {
			if specs[i].Binary != "" && !filepath.IsAbs(specs[i].Binary) {
				specs[i].Binary = filepath.Join(base, specs[i].Binary)
			}
			if specs[i].PadPath == "" {
				specs[i].PadPath = "data/blob.bin"
			}
			if specs[i].PadSeed == "" {
				specs[i].PadSeed = "drover"
			}
		}
	} else {
		s.Tags, s.Env, s.Ports = tags, env, ports
		if len(labels) > 0 {
			s.Labels = map[string]string{}
			for _, kv := range labels {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					fail("-label wants K=V, got " + kv)
				}
				s.Labels[k] = v
			}
		}
		specs = []spec{s}
	}

	var images []testimage.Image
	bins := map[string][]byte{}
	for _, sp := range specs {
		img, err := build(sp, bins)
		if err != nil {
			fail(err.Error())
		}
		images = append(images, img)
	}
	var buf bytes.Buffer
	built, err := testimage.WriteArchive(&buf, images...)
	if err != nil {
		fail(err.Error())
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		fail(err.Error())
	}
	if err := os.Rename(tmp, out); err != nil {
		fail(err.Error())
	}
	for _, b := range built {
		fmt.Printf("%s %d %s\n", b.ID, b.LayerSz, strings.Join(b.Tags, ","))
	}
}

func build(s spec, bins map[string][]byte) (testimage.Image, error) {
	if len(s.Tags) == 0 {
		return testimage.Image{}, fmt.Errorf("an image needs at least one -tag")
	}
	if s.Binary == "" {
		return testimage.Image{}, fmt.Errorf("%v: -binary is required", s.Tags)
	}
	bin, ok := bins[s.Binary]
	if !ok {
		var err error
		if bin, err = os.ReadFile(s.Binary); err != nil {
			return testimage.Image{}, err
		}
		bins[s.Binary] = bin
	}
	files := []testimage.File{
		{Path: "app", Mode: 0o755, Data: bin},
		{Path: "tmp/", Mode: 0o1777, Dir: true},
	}
	if s.PadSize > 0 {
		files = append(files, testimage.File{Path: s.PadPath, Mode: 0o644, Data: testimage.PseudoRandom(s.PadSeed, s.PadSize)})
	}
	ports := s.Ports
	if len(ports) == 0 {
		ports = []string{"8080/tcp"}
	}
	labels := map[string]string{"sh.drover.test": "true"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	arch, err := imageArch(s.Arch, bin)
	if err != nil {
		return testimage.Image{}, fmt.Errorf("%s: %w", s.Binary, err)
	}
	img := testimage.Image{
		Architecture: arch,
		Tags:         s.Tags,
		Files:        files,
		Entrypoint:   []string{"/app"},
		Env:          append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, s.Env...),
		ExposedPorts: ports,
		Labels:       labels,
		WorkingDir:   "/",
		StopSignal:   "SIGTERM",
	}
	if s.Healthcheck {
		img.Healthcheck = testimage.AppHealthcheck(s.HCPort)
	}
	return img, nil
}

// imageArch is the architecture an image of bin says: want if given (it
// must agree with the binary's ELF header), else the binary's, else amd64
// for a file that is not ELF.
func imageArch(want string, bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		if want == "" {
			return "amd64", nil
		}
		return want, nil
	}
	defer f.Close()
	var got string
	switch f.Machine {
	case elf.EM_X86_64:
		got = "amd64"
	case elf.EM_386:
		got = "386"
	case elf.EM_AARCH64:
		got = "arm64"
	case elf.EM_ARM:
		got = "arm"
	default:
		return "", fmt.Errorf("ELF machine %s: no Go architecture known for it (use -arch)", f.Machine)
	}
	if want != "" && want != got {
		return "", fmt.Errorf("-arch %s, but the binary is %s", want, got)
	}
	return got, nil
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "mkimage:", msg)
	os.Exit(1)
}
