package imagexfer

import (
	"compress/gzip"
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// fakeLocal is a local engine holding one image per reference.
type fakeLocal struct {
	t      *testing.T
	ref    string
	plat   string
	id     string
	saves  atomic.Int32
	archiv string
}

func newFakeLocal(t *testing.T, ref, plat string) *fakeLocal {
	path, id := dockerSave(t, ref, plat)
	return &fakeLocal{t: t, ref: ref, plat: plat, id: id, archiv: path}
}

func (l *fakeLocal) Image(_ context.Context, ref string) (engine.ImageFacts, error) {
	if ref != l.ref {
		return engine.ImageFacts{}, errors.New("image " + ref + " not found in the local docker engine")
	}
	p, _ := cluster.ParsePlatform(l.plat)
	return engine.ImageFacts{ID: l.id, Platform: p}, nil
}

func (l *fakeLocal) Save(_ context.Context, ref string) (*os.File, error) {
	l.saves.Add(1)
	img, err := tarball.ImageFromPath(l.archiv, nil)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(l.t.TempDir(), "save-*.tar.gz")
	if err != nil {
		return nil, err
	}
	zw := gzip.NewWriter(f)
	if err := tarball.Write(mustTag(l.t, ref), img, zw); err != nil {
		return nil, err
	}
	return f, zw.Close()
}

func TestPushChecksPlatforms(t *testing.T) {
	local := newFakeLocal(t, "lab/x:v1", "linux/arm64")
	hosts := map[string]*fakeHost{"r1": newFakeHost("linux/arm64"), "r2": newFakeHost("linux/arm64"), "a1": newFakeHost("linux/amd64")}
	hosts["r2"].images["lab/x:v1"] = local.id
	rows, err := Push(context.Background(), local, []string{"lab/x:v1"}, targets(hosts, "a1", "r1", "r2"), PushOptions{Parallel: 3})
	var pm *PlatformMismatchError
	if !errors.As(err, &pm) || pm.Host != "a1" || err.Error() != "a1: not sending lab/x:v1: the image is linux/arm64, the host is linux/amd64" {
		t.Fatalf("err %v", err)
	}
	if got := results(rows); !reflect.DeepEqual(got, map[string]string{"a1": "refused linux/arm64", "r1": "pushed linux/arm64", "r2": "up to date linux/arm64"}) {
		t.Errorf("results %v", got)
	}
	if hosts["a1"].loads != 0 || hosts["r1"].images["lab/x:v1"] != local.id || local.saves.Load() != 1 {
		t.Errorf("a1 loads %d, r1 has %q, saves %d", hosts["a1"].loads, hosts["r1"].images["lab/x:v1"], local.saves.Load())
	}
}

// stack deploy --push: the observation answers, a host of another
// platform is skipped with a warning, and only hosts to send to are
// connected to.
func TestPushObservedSkipsOtherPlatforms(t *testing.T) {
	local := newFakeLocal(t, "lab/x:v1", "linux/amd64")
	hosts := map[string]*fakeHost{"a1": newFakeHost("linux/amd64"), "a2": newFakeHost("linux/amd64"), "r1": newFakeHost("linux/arm64")}
	connected := map[string]bool{}
	var ts []Target
	for _, n := range []string{"a1", "a2", "r1"} {
		h := hosts[n]
		ts = append(ts, Target{Name: n, Connect: func(context.Context) (Host, error) { connected[n] = true; return h, nil }})
	}
	observed := func(host, ref string) (string, cluster.Platform) {
		id := ""
		if host == "a2" {
			id = local.id
		}
		return id, hosts[host].platform
	}
	var warned []string
	rows, err := Push(context.Background(), local, []string{"lab/x:v1"}, ts, PushOptions{Observed: observed, SkipOtherPlatforms: true,
		Warn: func(h, msg string) { warned = append(warned, h+": "+msg) }})
	if err != nil {
		t.Fatal(err)
	}
	if got := results(rows); !reflect.DeepEqual(got, map[string]string{"a1": "pushed linux/amd64", "a2": "up to date linux/amd64", "r1": "skipped linux/amd64"}) {
		t.Errorf("results %v", got)
	}
	if !reflect.DeepEqual(connected, map[string]bool{"a1": true}) {
		t.Errorf("connected to %v, want only a1", connected)
	}
	if len(warned) != 1 || !strings.HasPrefix(warned[0], "r1: r1: not sending lab/x:v1: the image is linux/amd64, the host is linux/arm64") {
		t.Errorf("warnings %v", warned)
	}
}

func TestPushMissingLocalImage(t *testing.T) {
	local := newFakeLocal(t, "lab/x:v1", "linux/amd64")
	_, err := Push(context.Background(), local, []string{"lab/nope:v1"}, targets(map[string]*fakeHost{"a1": newFakeHost("linux/amd64")}, "a1"), PushOptions{})
	if err == nil || !strings.Contains(err.Error(), "lab/nope:v1 not found") {
		t.Errorf("err %v", err)
	}
}
