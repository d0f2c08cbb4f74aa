package imagexfer

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func mustTag(t *testing.T, ref string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func targets(hosts map[string]*fakeHost, names ...string) []Target {
	var out []Target
	for _, n := range names {
		h := hosts[n]
		out = append(out, Target{Name: n, Connect: func(context.Context) (Host, error) { return h, nil }})
	}
	return out
}

func results(rows []Row) map[string]string {
	out := map[string]string{}
	for _, r := range rows {
		out[r.Host] = string(r.Result) + " " + r.Platform
	}
	return out
}

func TestOpenOCIIndex(t *testing.T) {
	path, _ := ociArchive(t, "lab/x:v1", "linux/amd64", "linux/arm64/v8", "linux/arm/v7")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Format != OCIArchive || len(a.Images) != 1 || a.Images[0].Name != "lab/x:v1" {
		t.Fatalf("format %s images %+v", a.Format, a.Names())
	}
	if got, want := platformStrings(a.Images[0]), []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}; !reflect.DeepEqual(got, want) {
		t.Errorf("platforms %v, want %v (attestation skipped, arm64/v8 normalised)", got, want)
	}
}

func platformStrings(im Image) []string {
	var out []string
	for _, p := range im.Platforms() {
		out = append(out, p.String())
	}
	return out
}

// A mixed cluster: each host gets its own variant; a host of a platform the
// archive lacks is skipped with a warning, not failed.
func TestLoadArchiveMixedCluster(t *testing.T) {
	path, ids := ociArchive(t, "lab/x:v1", "linux/amd64", "linux/arm64")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	hosts := map[string]*fakeHost{"a1": newFakeHost("linux/amd64"), "a2": newFakeHost("linux/amd64"), "r1": newFakeHost("linux/arm64"), "p1": newFakeHost("linux/ppc64le")}
	var warned []string
	rows, err := LoadArchive(context.Background(), a, targets(hosts, "a1", "a2", "p1", "r1"), Options{Parallel: 4, Warn: func(h, msg string) { warned = append(warned, h+": "+msg) }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a1": "loaded linux/amd64", "a2": "loaded linux/amd64", "r1": "loaded linux/arm64", "p1": "skipped linux/ppc64le"}
	if got := results(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("results %v, want %v", got, want)
	}
	if hosts["a1"].images["lab/x:v1"] != ids["linux/amd64"] || hosts["r1"].images["lab/x:v1"] != ids["linux/arm64"] {
		t.Errorf("a1 has %s, r1 has %s; want %v", hosts["a1"].images["lab/x:v1"], hosts["r1"].images["lab/x:v1"], ids)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "p1: lab/x:v1 has no variant for linux/ppc64le (platforms linux/amd64, linux/arm64)") {
		t.Errorf("warnings %v", warned)
	}

	// Again: nothing is sent.
	rows, err = LoadArchive(context.Background(), a, targets(hosts, "a1", "a2", "r1"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := results(rows); !reflect.DeepEqual(got, map[string]string{"a1": "up to date linux/amd64", "a2": "up to date linux/amd64", "r1": "up to date linux/arm64"}) {
		t.Errorf("second load %v", got)
	}
	if hosts["a1"].loads != 1 {
		t.Errorf("a1 loaded %d times", hosts["a1"].loads)
	}
}

func TestLoadDockerArchiveAndTag(t *testing.T) {
	path, id := dockerSave(t, "lab/y:v2", "linux/amd64")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Format != DockerArchive || a.Images[0].Name != "lab/y:v2" {
		t.Fatalf("format %s names %v", a.Format, a.Names())
	}
	hosts := map[string]*fakeHost{"h1": newFakeHost("linux/amd64")}
	if _, err := LoadArchive(context.Background(), a, targets(hosts, "h1"), Options{Tag: "other/name:v9"}); err != nil {
		t.Fatal(err)
	}
	if hosts["h1"].images["other/name:v9"] != id {
		t.Errorf("h1 images %v, want other/name:v9 = %s", hosts["h1"].images, id)
	}
}

func TestLoadUnnamedNeedsTag(t *testing.T) {
	path, _ := ociArchive(t, "", "linux/amd64")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = LoadArchive(context.Background(), a, nil, Options{})
	if err == nil || !strings.Contains(err.Error(), "--tag NAME:TAG") {
		t.Errorf("err %v", err)
	}
}

// A load whose image ID does not match afterwards fails that host only.
func TestLoadVerifies(t *testing.T) {
	path, _ := dockerSave(t, "lab/y:v2", "linux/amd64")
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	good, bad := newFakeHost("linux/amd64"), &lyingHost{fakeHost: newFakeHost("linux/amd64")}
	ts := []Target{
		{Name: "good", Connect: func(context.Context) (Host, error) { return good, nil }},
		{Name: "bad", Connect: func(context.Context) (Host, error) { return bad, nil }},
		{Name: "down", Connect: func(context.Context) (Host, error) { return nil, errors.New("ssh: connection refused") }},
	}
	rows, err := LoadArchive(context.Background(), a, ts, Options{Parallel: 2})
	if err == nil || !strings.Contains(err.Error(), "bad: load lab/y:v2: after loading") || !strings.Contains(err.Error(), "down: ssh: connection refused") {
		t.Errorf("err %v", err)
	}
	if got := results(rows); got["good"] != "loaded linux/amd64" || got["bad"] != "failed linux/amd64" || got["down"] != "failed " {
		t.Errorf("results %v", got)
	}
}

type lyingHost struct{ *fakeHost }

func (l *lyingHost) ImageFacts(ctx context.Context, ref string) (f engineFacts, ok bool, err error) {
	f, ok, err = l.fakeHost.ImageFacts(ctx, ref)
	if ok {
		f.ID = "sha256:0000"
	}
	return f, ok, err
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.tar": "", "text.tar": "hello"} {
		p := dir + "/" + name
		if err := writeFile(p, content); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(p); !errors.Is(err, ErrNotAnArchive) {
			t.Errorf("%s: err %v, want ErrNotAnArchive", name, err)
		}
	}
}
