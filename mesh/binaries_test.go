package mesh

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/mesh/proxy"
)

// fakeELF is the smallest ELF executable debug/elf reads: a header for
// machine, and a PT_INTERP program header when dynamic.
func fakeELF(t *testing.T, path string, machine elf.Machine, dynamic bool) string {
	t.Helper()
	var buf bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	phnum := uint16(0)
	if dynamic {
		phnum = 1
	}
	if machine == elf.EM_386 || machine == elf.EM_ARM {
		ident[elf.EI_CLASS] = byte(elf.ELFCLASS32)
		binary.Write(&buf, binary.LittleEndian, elf.Header32{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: 1,
			Phoff: 52, Ehsize: 52, Phentsize: 32, Phnum: phnum, Shentsize: 40})
		if dynamic {
			binary.Write(&buf, binary.LittleEndian, elf.Prog32{Type: uint32(elf.PT_INTERP)})
		}
	} else {
		binary.Write(&buf, binary.LittleEndian, elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: 1,
			Phoff: 64, Ehsize: 64, Phentsize: 56, Phnum: phnum, Shentsize: 64})
		if dynamic {
			binary.Write(&buf, binary.LittleEndian, elf.Prog64{Type: uint32(elf.PT_INTERP)})
		}
	}
	buf.WriteString("drover " + path) // distinct contents, distinct digests
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func plat(s string) cluster.Platform {
	p, err := cluster.ParsePlatform(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestBinaryPlatform(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		machine elf.Machine
		want    string
	}{{elf.EM_X86_64, "linux/amd64"}, {elf.EM_386, "linux/386"}, {elf.EM_AARCH64, "linux/arm64"}, {elf.EM_ARM, "linux/arm"}} {
		p, err := BinaryPlatform(fakeELF(t, filepath.Join(dir, c.want), c.machine, false))
		if err != nil || p.String() != c.want {
			t.Errorf("%s: %v %v", c.want, p, err)
		}
	}
	var ns *NotStaticError
	if _, err := BinaryPlatform(fakeELF(t, filepath.Join(dir, "dyn"), elf.EM_X86_64, true)); !errors.As(err, &ns) || ns.Reason != "dynamically linked" {
		t.Errorf("dynamic: %v", err)
	}
	if _, err := BinaryPlatform(fakeELF(t, filepath.Join(dir, "dyn32"), elf.EM_386, true)); !errors.As(err, &ns) || ns.Reason != "dynamically linked" {
		t.Errorf("dynamic 386: %v", err)
	}
	macho := filepath.Join(dir, "macho")
	os.WriteFile(macho, []byte{0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0}, 0o755)
	if _, err := BinaryPlatform(macho); !errors.As(err, &ns) {
		t.Errorf("mach-o: %v", err)
	}
}

func TestFindBinariesSources(t *testing.T) {
	dir := t.TempDir()
	self := fakeELF(t, filepath.Join(dir, "bin", "drover"), elf.EM_X86_64, false)
	fakeELF(t, filepath.Join(dir, "bin", "drover-linux-386"), elf.EM_386, false)
	fakeELF(t, filepath.Join(dir, "bin", "drover-linux-arm64"), elf.EM_X86_64, false) // misnamed
	fakeELF(t, filepath.Join(dir, "bin", "drover-linux-amd64"), elf.EM_X86_64, false) // drover itself wins
	arm := fakeELF(t, filepath.Join(dir, "elsewhere", "drover-arm"), elf.EM_ARM, false)

	b, err := FindBinaries(" "+arm+",", self, "linux/amd64", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ platform, path, from string }{
		{"linux/amd64", self, "drover's executable"},
		{"linux/386", filepath.Join(dir, "bin", "drover-linux-386"), "beside drover's executable"},
		{"linux/arm/v7", arm, BinaryEnv}, // the variant is not in the header
	} {
		got, err := b.Binary(plat(c.platform))
		if err != nil || got.Path != c.path || got.From != c.from {
			t.Errorf("%s: %+v %v", c.platform, got, err)
		}
	}
	_, err = b.Binary(plat("linux/arm64"))
	var miss *MissingBinaryError
	if !errors.As(err, &miss) || len(miss.Rejected) != 1 || !strings.Contains(err.Error(), "drover-linux-arm64 is a linux/amd64 build, not linux/arm64") {
		t.Errorf("arm64 (a misnamed file only): %v", err)
	}
	if got := cluster.PlatformList(b.Platforms()); got != "linux/386, linux/amd64, linux/arm" {
		t.Errorf("platforms %q", got)
	}
}

func TestFindBinariesListedWins(t *testing.T) {
	dir := t.TempDir()
	self := fakeELF(t, filepath.Join(dir, "drover"), elf.EM_X86_64, false)
	other := fakeELF(t, filepath.Join(dir, "old", "drover"), elf.EM_X86_64, false)
	b, err := FindBinaries(other, self, "linux/amd64", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	// DROVER_PROXY_BINARY=PATH as before: that build, not drover's own.
	if got, _ := b.Binary(plat("linux/amd64")); got.Path != other {
		t.Errorf("amd64 from %s, want the listed %s", got.Path, other)
	}
}

func TestFindBinariesListErrors(t *testing.T) {
	dir := t.TempDir()
	self := fakeELF(t, filepath.Join(dir, "drover"), elf.EM_X86_64, false)
	a := fakeELF(t, filepath.Join(dir, "a"), elf.EM_386, false)
	b := fakeELF(t, filepath.Join(dir, "b"), elf.EM_386, false)
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	for list, want := range map[string]string{
		a + "," + b:                  "are both linux/386 builds",
		script:                       "not a linux executable",
		filepath.Join(dir, "absent"): "no such file",
	} {
		_, err := FindBinaries(list, self, "linux/amd64", "1.0")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), BinaryEnv+": ") {
			t.Errorf("%s: %v, want %q", list, err, want)
		}
	}
}

// On a macOS laptop drover is no linux build: every host's platform needs
// one, and the message says which and where.
func TestMissingBinaryMessage(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "drover")
	os.WriteFile(self, []byte{0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0}, 0o755)
	b, err := FindBinaries("", self, "darwin/arm64", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]*proxy.Config{"h1": {}, "h4": {}, "h9": nil}
	platforms := map[string]cluster.Platform{"h1": plat("linux/amd64"), "h4": plat("linux/386"), "h9": plat("linux/386")}
	images, missing, err := b.HostImages(configs, platforms, true)
	if err != nil || len(images) != 0 || len(missing) != 2 {
		t.Fatalf("images %v missing %v err %v", images, missing, err)
	}
	msg := missing["h4"].Error()
	for _, want := range []string{
		"no drover binary for linux/386",
		"drover itself is a darwin/arm64 build",
		"GOOS=linux GOARCH=386",
		filepath.Join(dir, "drover-linux-386"),
		"DROVER_PROXY_BINARY=…/drover-linux-386",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if missing["h4"].Host != "h4" || missing["h1"].Platform != plat("linux/amd64") {
		t.Errorf("missing %+v", missing)
	}
}

func TestHostImagesPerPlatform(t *testing.T) {
	dir := t.TempDir()
	self := fakeELF(t, filepath.Join(dir, "drover"), elf.EM_X86_64, false)
	fakeELF(t, filepath.Join(dir, "drover-linux-386"), elf.EM_386, false)
	b, err := FindBinaries("", self, "linux/amd64", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	configs := map[string]*proxy.Config{"h1": {}, "h2": {}, "h4": {}, "h5": {}}
	platforms := map[string]cluster.Platform{"h1": plat("linux/amd64"), "h2": plat("linux/amd64"), "h4": plat("linux/386"), "h5": plat("linux/arm64")}

	// Only looked up: the hosts left out, nothing read.
	images, missing, err := b.HostImages(configs, platforms, false)
	if err != nil || len(images) != 0 || len(missing) != 1 || missing["h5"] == nil {
		t.Fatalf("lookup: images %v missing %v err %v", images, missing, err)
	}
	images, missing, err = b.HostImages(configs, platforms, true)
	if err != nil || len(missing) != 1 || missing["h5"] == nil {
		t.Fatalf("missing %v err %v", missing, err)
	}
	if images["h1"].Name != images["h2"].Name || images["h1"].Name == images["h4"].Name || !strings.HasPrefix(images["h4"].Name, ImageRepo+":1.0-") {
		t.Errorf("refs h1 %q h2 %q h4 %q", images["h1"].Name, images["h2"].Name, images["h4"].Name)
	}
	im, err := images["h4"].Build()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := images["h4"].Build()
	if im.Name != images["h4"].Name || len(im.Variants) != 1 || im.Variants[0].Platform != plat("linux/386") || again.Variants[0].ID != im.Variants[0].ID {
		t.Fatalf("h4's image %+v", im)
	}
	cf, err := im.Variants[0].Image.ConfigFile()
	if err != nil || cf.Architecture != "386" || cf.Config.Labels[LabelPlatform] != "linux/386" {
		t.Errorf("h4's image config %+v %v", cf, err)
	}
}

// A host whose platform has no image fails in Sync before anything on it
// is asked, and the others are synced.
func TestSyncHostWithoutImageUntouched(t *testing.T) {
	touched := false
	targets := []Target{{Name: "h4", Engine: func(context.Context) (Host, error) {
		touched = true
		return nil, errors.New("asked")
	}}}
	res, err := Sync(context.Background(), targets, map[string]*proxy.Config{"h4": {}}, SyncOptions{Cluster: "c", Images: map[string]ImageRef{}})
	if touched || err == nil || !strings.HasPrefix(err.Error(), "h4: routing mesh: no proxy image") || len(res) != 1 || res[0].Actions[0] != SyncError {
		t.Errorf("touched %v, err %v, res %+v", touched, err, res)
	}
}
