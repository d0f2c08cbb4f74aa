package mesh

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"

	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/imagexfer"
)

// LabelPlatform, on the proxy image (so on its container too), says the
// binary's platform.
const LabelPlatform = "drover.proxy.platform"

// ImageRepo is the proxy image's repository; the tag is drover's version
// and the binary's digest, so a different drover brings its own proxy.
const ImageRepo = "drover-proxy"

// NotStaticError says the binary cannot run alone in a FROM-scratch image.
type NotStaticError struct {
	Path   string
	Reason string
}

func (e *NotStaticError) Error() string {
	return fmt.Sprintf("%s cannot be the routing mesh's proxy: %s (build drover with CGO_ENABLED=0 for linux, or point DROVER_PROXY_BINARY at such a build)", e.Path, e.Reason)
}

// ProxyImage builds the proxy's image: FROM scratch, one layer holding
// the binary at /drover, `drover proxy` as its entrypoint. The same binary
// gives the same image ID (timestamps are zero), so a host that has it is
// not sent it again.
func ProxyImage(binary, version string) (imagexfer.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	return imageOf(binary, bin, version)
}

// imageOf builds the proxy image of the binary read from path.
func imageOf(binary string, bin []byte, version string) (imagexfer.Image, error) {
	p, err := staticPlatform(binary, bin)
	if err != nil {
		return imagexfer.Image{}, err
	}
	layerTar, err := binaryLayer(bin)
	if err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = p.OS, p.Arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{"/drover", "proxy"},
		User:       "0:0",
		Labels:     map[string]string{LabelProxy: "true", LabelVersion: version, LabelPlatform: p.String()},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return imagexfer.Image{}, fmt.Errorf("proxy image: %w", err)
	}
	return imagexfer.Image{Name: ImageTag(bin, version), Variants: []imagexfer.Variant{{Platform: p, ID: id.String(), Image: img}}}, nil
}

// ImageTag is the proxy image's reference for this binary and version.
func ImageTag(bin []byte, version string) string {
	sum := sha256.Sum256(bin)
	return ImageRepo + ":" + tagSafe(version) + "-" + hex.EncodeToString(sum[:6])
}

var unsafeTag = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func tagSafe(v string) string {
	v = unsafeTag.ReplaceAllString(v, "_")
	if v == "" {
		v = "dev"
	}
	if len(v) > 100 {
		v = v[:100]
	}
	return v
}

// staticPlatform checks that the binary is a linux ELF executable with no
// interpreter (statically linked) and returns its platform.
func staticPlatform(path string, bin []byte) (cluster.Platform, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return cluster.Platform{}, &NotStaticError{Path: path, Reason: "not a linux executable (ELF)"}
	}
	defer f.Close()
	return elfPlatform(path, f)
}

func elfPlatform(path string, f *elf.File) (cluster.Platform, error) {
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return cluster.Platform{}, &NotStaticError{Path: path, Reason: "not an executable (ELF type " + f.Type.String() + ")"}
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return cluster.Platform{}, &NotStaticError{Path: path, Reason: "a " + f.OSABI.String() + " executable, not linux"}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return cluster.Platform{}, &NotStaticError{Path: path, Reason: "dynamically linked"}
		}
	}
	var arch string
	switch f.Machine {
	case elf.EM_X86_64:
		arch = "amd64"
	case elf.EM_AARCH64:
		arch = "arm64"
	case elf.EM_ARM:
		arch = "arm"
	case elf.EM_386:
		arch = "386"
	case elf.EM_PPC64:
		arch = "ppc64le"
	case elf.EM_S390:
		arch = "s390x"
	case elf.EM_RISCV:
		arch = "riscv64"
	default:
		return cluster.Platform{}, &NotStaticError{Path: path, Reason: "machine " + f.Machine.String() + " is not one docker runs"}
	}
	return cluster.Platform{OS: "linux", Arch: arch}.Normalize(), nil
}

// binaryLayer is a tar holding the binary as /drover, mode 0755, owned by
// root, with a zero timestamp.
func binaryLayer(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "drover", Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
