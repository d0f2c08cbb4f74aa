package imagexfer

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/drover-sh/drover/engine"
)

// layeredLocal is a local engine with one three-layer image.
func layeredLocal(t *testing.T, ref string) (*fakeLocal, []string) {
	t.Helper()
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	var diffIDs []string
	for _, d := range cf.RootFS.DiffIDs {
		diffIDs = append(diffIDs, d.String())
	}
	id, _ := img.ConfigName()
	path := filepath.Join(t.TempDir(), "image.tar")
	if err := tarball.WriteToFile(path, mustTag(t, ref), img); err != nil {
		t.Fatal(err)
	}
	return &fakeLocal{t: t, ref: ref, plat: "linux/amd64", id: id.String(), archiv: path}, diffIDs
}

// strictHost refuses an archive that lacks a layer file, as the
// containerd image store does; it records how many layer files came.
type strictHost struct {
	*fakeHost
	strict bool
	layers int
}

func (s *strictHost) Load(ctx context.Context, gz io.Reader) (string, error) {
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return "", err
	}
	tmp, _ := os.CreateTemp(s.fakeHost.dir, "load-*.tar")
	defer tmp.Close()
	io.Copy(tmp, zr)
	var names map[string]bool = map[string]bool{}
	var ms []struct{ Layers []string }
	tr := tar.NewReader(io.NewSectionReader(tmp, 0, 1<<62))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
		if h.Name == "manifest.json" {
			json.NewDecoder(tr).Decode(&ms)
		}
	}
	s.layers = 0
	for _, l := range ms[0].Layers {
		if names[l] {
			s.layers++
		} else if s.strict {
			return "", errors.New("layer " + l + " missing")
		}
	}
	tmp.Seek(0, 0)
	pr, pw := io.Pipe()
	go func() {
		zw := gzip.NewWriter(pw)
		io.Copy(zw, tmp)
		zw.Close()
		pw.Close()
	}()
	return s.fakeHost.loadID(ms, pr)
}

func TestPushThin(t *testing.T) {
	local, diffIDs := layeredLocal(t, "lab/app:2")
	lenient := &strictHost{fakeHost: newFakeHost("linux/amd64")}
	strict := &strictHost{fakeHost: newFakeHost("linux/amd64"), strict: true}
	fresh := &strictHost{fakeHost: newFakeHost("linux/amd64")}
	for _, h := range []*strictHost{lenient, strict, fresh} {
		h.fakeHost.dir = t.TempDir()
		h.fakeHost.id = local.id
	}
	hosts := map[string]Host{"lenient": lenient, "strict": strict, "fresh": fresh}
	var ts []Target
	for _, n := range []string{"fresh", "lenient", "strict"} {
		h := hosts[n]
		ts = append(ts, Target{Name: n, Connect: func(context.Context) (Host, error) { return h, nil }})
	}
	var warned []string
	rows, err := Push(context.Background(), local, []string{"lab/app:2"}, ts, PushOptions{
		Parallel: 3,
		Warn:     func(host, msg string) { warned = append(warned, host) },
		HostLayers: func(_ context.Context, host string) []string {
			if host == "fresh" {
				return nil
			}
			// The previous build: the same first two layers, another third.
			return []string{diffIDs[0], diffIDs[1], "sha256:other"}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Row{}
	for _, r := range rows {
		got[r.Host] = r
	}
	if r := got["lenient"]; r.Result != Pushed || r.LayersSkipped != 2 || lenient.layers != 1 {
		t.Errorf("lenient: %+v, %d layer files sent", r, lenient.layers)
	}
	if r := got["strict"]; r.Result != Pushed || r.LayersSkipped != 0 || strict.layers != 3 {
		t.Errorf("strict: %+v, %d layer files sent (want the whole image after the refusal)", r, strict.layers)
	}
	if r := got["fresh"]; r.Result != Pushed || r.LayersSkipped != 0 || fresh.layers != 3 {
		t.Errorf("fresh: %+v, %d layer files", r, fresh.layers)
	}
	if got["lenient"].Bytes >= got["fresh"].Bytes {
		t.Errorf("thin archive %d bytes, full %d", got["lenient"].Bytes, got["fresh"].Bytes)
	}
	if len(warned) != 1 || warned[0] != "strict" {
		t.Errorf("warned %v", warned)
	}
	_ = engine.ImageFacts{}
}
