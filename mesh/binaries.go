package mesh

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/imagexfer"
	"github.com/drover-sh/drover/mesh/proxy"
)

// BinaryEnv names the drover binaries the proxies are made of, for the
// platforms drover's own executable is not: PATH[,PATH…], each a static
// linux build whose platform is read from its ELF header.
const BinaryEnv = "DROVER_PROXY_BINARY"

// BesidePrefix: drover-linux-ARCH files beside drover's executable are
// the builds a release archive ships for the other platforms.
const BesidePrefix = "drover-"

// Binary is one drover binary a proxy image can be made of.
type Binary struct {
	Path     string
	Platform cluster.Platform
	// From says where it was found: BinaryEnv, "drover's executable" or
	// "beside drover's executable".
	From string
}

// Binaries are the drover binaries at hand, at most one per platform,
// and the proxy images made of them (each read, hashed and built once).
type Binaries struct {
	version string
	beside  string // the directory looked in for drover-linux-ARCH
	self    string // why drover's own executable is none; "" when it is one
	byPlat  map[platformKey]*binaryImage
	// Rejected are the files beside the executable that could not be one,
	// with why: a missing platform's error names them.
	Rejected []string
}

// platformKey is what a binary and a host must share: the variant of an
// arm build is not in its ELF header, so it is not compared.
type platformKey struct{ os, arch string }

func keyOf(p cluster.Platform) platformKey {
	p = p.Normalize()
	return platformKey{p.OS, p.Arch}
}

type binaryImage struct {
	Binary
	version string

	tagOnce sync.Once
	tag     string
	bin     []byte
	tagErr  error

	imgOnce sync.Once
	img     imagexfer.Image
	imgErr  error
}

// FindBinaries gathers, in this order, the binaries of list (BinaryEnv's
// value: what the user says wins), drover's own executable self when it is
// a static linux build (running is its platform: runtime GOOS/GOARCH, for
// the message when it is not), and the drover-linux-ARCH files beside it.
// A listed file that is no proxy binary, or two listed for one platform,
// is an error: the user asked for it.
func FindBinaries(list, self, running, version string) (*Binaries, error) {
	b := &Binaries{version: version, byPlat: map[platformKey]*binaryImage{}}
	add := func(bin Binary) {
		k := keyOf(bin.Platform)
		if _, ok := b.byPlat[k]; !ok {
			b.byPlat[k] = &binaryImage{Binary: bin, version: version}
		}
	}
	listed := map[platformKey]string{}
	for _, path := range strings.Split(list, ",") {
		path = strings.TrimSpace(path)
		if path == "" {
			continue
		}
		p, err := BinaryPlatform(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", BinaryEnv, err)
		}
		k := keyOf(p)
		if other, ok := listed[k]; ok {
			return nil, fmt.Errorf("%s: %s and %s are both %s builds: name one per platform", BinaryEnv, other, path, p)
		}
		listed[k] = path
		add(Binary{Path: path, Platform: p, From: BinaryEnv})
	}
	if self == "" {
		b.self = "drover's executable is unknown"
		return b, nil
	}
	b.beside = filepath.Dir(self)
	if p, err := BinaryPlatform(self); err == nil {
		add(Binary{Path: self, Platform: p, From: "drover's executable"})
	} else if running != "" && !strings.HasPrefix(running, "linux/") {
		b.self = "drover itself is a " + running + " build"
	} else {
		b.self = err.Error()
	}
	matches, _ := filepath.Glob(filepath.Join(b.beside, BesidePrefix+"linux-*"))
	sort.Strings(matches)
	for _, path := range matches {
		if path == self {
			continue
		}
		named, err := cluster.ParsePlatform(strings.Replace(strings.TrimPrefix(filepath.Base(path), BesidePrefix), "-", "/", 2))
		if err != nil {
			continue // drover-linux-something-else: not ours
		}
		p, err := BinaryPlatform(path)
		switch {
		case err != nil:
			b.Rejected = append(b.Rejected, err.Error())
		case keyOf(p) != keyOf(named):
			b.Rejected = append(b.Rejected, fmt.Sprintf("%s is a %s build, not %s", path, p, named))
		default:
			add(Binary{Path: path, Platform: p, From: "beside drover's executable"})
		}
	}
	return b, nil
}

// Platforms lists the platforms a proxy can be made for.
func (b *Binaries) Platforms() []cluster.Platform {
	var out []cluster.Platform
	for _, bi := range b.byPlat {
		out = append(out, bi.Platform)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Binary is the binary for platform p, or a *MissingBinaryError (its Host
// left for the caller to fill).
func (b *Binaries) Binary(p cluster.Platform) (Binary, error) {
	bi, err := b.lookup(p)
	if err != nil {
		return Binary{}, err
	}
	return bi.Binary, nil
}

func (b *Binaries) lookup(p cluster.Platform) (*binaryImage, error) {
	if bi, ok := b.byPlat[keyOf(p)]; ok {
		return bi, nil
	}
	m := &MissingBinaryError{Platform: p.Normalize(), Have: b.Platforms(), Self: b.self, Rejected: b.Rejected}
	m.Want = filepath.Join(b.beside, BesidePrefix+p.OS+"-"+p.Arch)
	if b.beside == "" {
		m.Want = "…/" + BesidePrefix + p.OS + "-" + p.Arch
	}
	return nil, m
}

// Image is the proxy image for platform p: its reference (ImageTag, the
// binary read and hashed once) and how to build it (once, when some host
// of p lacks it).
func (b *Binaries) Image(p cluster.Platform) (ImageRef, error) {
	bi, err := b.lookup(p)
	if err != nil {
		return ImageRef{}, err
	}
	bi.tagOnce.Do(func() {
		bi.bin, bi.tagErr = os.ReadFile(bi.Path)
		if bi.tagErr == nil {
			bi.tag = ImageTag(bi.bin, bi.version)
		}
	})
	if bi.tagErr != nil {
		return ImageRef{}, fmt.Errorf("proxy binary: %w", bi.tagErr)
	}
	return ImageRef{Name: bi.tag, Platform: bi.Platform, Build: func() (imagexfer.Image, error) {
		bi.imgOnce.Do(func() { bi.img, bi.imgErr = imageOf(bi.Path, bi.bin, bi.version) })
		return bi.img, bi.imgErr
	}}, nil
}

// HostImages gives each host that has a configuration the proxy image of
// its platform (platforms: by host), and the hosts whose platform has no
// binary. Without refs only the platforms are looked up (nothing is read
// or hashed): enough to know which hosts are left out.
func (b *Binaries) HostImages(configs map[string]*proxy.Config, platforms map[string]cluster.Platform, refs bool) (map[string]ImageRef, map[string]*MissingBinaryError, error) {
	images := map[string]ImageRef{}
	missing := map[string]*MissingBinaryError{}
	for name, cfg := range configs {
		p, ok := platforms[name]
		if cfg == nil || !ok {
			continue
		}
		var ref ImageRef
		var err error
		if refs {
			ref, err = b.Image(p)
		} else {
			_, err = b.lookup(p)
		}
		var miss *MissingBinaryError
		switch {
		case errors.As(err, &miss):
			miss.Host = name
			missing[name] = miss
		case err != nil:
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		case refs:
			images[name] = ref
		}
	}
	return images, missing, nil
}

// ImageRef is one host's proxy image: its reference, its platform, and
// how to build it (called only when the host lacks it).
type ImageRef struct {
	Name     string
	Platform cluster.Platform
	Build    func() (imagexfer.Image, error)
}

// MissingBinaryError: no drover binary of the host's platform is at hand,
// so the host gets no proxy (and is left out of the routing mesh). Its
// message leaves the host to the wrapping ("h4: routing mesh: …").
type MissingBinaryError struct {
	Host     string
	Platform cluster.Platform
	Want     string             // the file that would be found beside drover
	Have     []cluster.Platform // the platforms there are binaries for
	Self     string             // why drover's executable is none; "" when it is one
	Rejected []string
}

func (e *MissingBinaryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no drover binary for %s to run the routing mesh's proxy", e.Platform)
	var have []string
	for _, p := range e.Have {
		have = append(have, p.String())
	}
	if len(have) > 0 {
		fmt.Fprintf(&b, " (found: %s)", strings.Join(have, ", "))
	}
	if e.Self != "" {
		fmt.Fprintf(&b, "; %s", e.Self)
	}
	for _, r := range e.Rejected {
		fmt.Fprintf(&b, "; %s", r)
	}
	base := filepath.Base(e.Want)
	fmt.Fprintf(&b, ": put a static %s build of drover (CGO_ENABLED=0 GOOS=%s GOARCH=%s go build) at %s, or set %s=…/%s (a comma-separated list names several)",
		e.Platform, e.Platform.OS, e.Platform.Arch, e.Want, BinaryEnv, base)
	return b.String()
}

// BinaryPlatform reads a binary's platform from its ELF header: it must be
// a static linux executable (a *NotStaticError otherwise).
func BinaryPlatform(path string) (cluster.Platform, error) {
	f, err := os.Open(path)
	if err != nil {
		return cluster.Platform{}, fmt.Errorf("proxy binary: %w", err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return cluster.Platform{}, &NotStaticError{Path: path, Reason: "not a linux executable (ELF)"}
	}
	defer ef.Close()
	return elfPlatform(path, ef)
}
