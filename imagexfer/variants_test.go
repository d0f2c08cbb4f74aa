package imagexfer

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
)

// variantsLocal holds each variant under its own name, as a builder does.
type variantsLocal map[string]*fakeLocal

func (v variantsLocal) Image(ctx context.Context, ref string) (engine.ImageFacts, error) {
	if l, ok := v[ref]; ok {
		return l.Image(ctx, ref)
	}
	return engine.ImageFacts{}, errors.New("no image " + ref)
}

func (v variantsLocal) Save(ctx context.Context, ref string) (*os.File, error) {
	if l, ok := v[ref]; ok {
		return l.Save(ctx, ref)
	}
	return nil, errors.New("no image " + ref)
}

// TestPushVariants: each host gets, under the one reference, the variant
// of its platform; a host holding another variant under it gets its own;
// a host no variant runs is skipped.
func TestPushVariants(t *testing.T) {
	amd := newFakeLocal(t, "lab/x:aaaa", "linux/amd64")
	i386 := newFakeLocal(t, "lab/x:bbbb", "linux/386")
	src := variantsLocal{"lab/x:aaaa": amd, "lab/x:bbbb": i386}
	vs := []BuiltVariant{
		{Platform: cluster.Platform{OS: "linux", Arch: "386"}, ID: i386.id, Source: "lab/x:bbbb"},
		{Platform: cluster.Platform{OS: "linux", Arch: "amd64"}, ID: amd.id, Source: "lab/x:aaaa"},
	}
	hosts := map[string]*fakeHost{"a1": newFakeHost("linux/amd64"), "a2": newFakeHost("linux/amd64"), "i1": newFakeHost("linux/386"), "r1": newFakeHost("linux/arm64")}
	hosts["a2"].images["lab/x:set"] = amd.id
	hosts["i1"].images["lab/x:set"] = amd.id // the wrong variant
	var warned []string
	rows, err := PushVariants(context.Background(), src, "lab/x:set", vs, targets(hosts, "a1", "a2", "i1", "r1"), PushOptions{Parallel: 2, SkipOtherPlatforms: true,
		Warn: func(h, msg string) { warned = append(warned, msg) }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a1": "pushed linux/amd64", "a2": "up to date linux/amd64", "i1": "pushed linux/386", "r1": "skipped linux/arm64"}
	if got := results(rows); !reflect.DeepEqual(got, want) {
		t.Errorf("results %v, want %v", got, want)
	}
	if hosts["a1"].images["lab/x:set"] != amd.id || hosts["i1"].images["lab/x:set"] != i386.id {
		t.Errorf("a1 has %q, i1 has %q", hosts["a1"].images["lab/x:set"], hosts["i1"].images["lab/x:set"])
	}
	if _, ok := hosts["a1"].images["lab/x:aaaa"]; ok {
		t.Error("a1 got the builder's name of the variant")
	}
	if amd.saves.Load() != 1 || i386.saves.Load() != 1 || hosts["r1"].loads != 0 {
		t.Errorf("saves %d %d, r1 loads %d", amd.saves.Load(), i386.saves.Load(), hosts["r1"].loads)
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "it has variants for linux/386, linux/amd64, the host is linux/arm64") {
		t.Errorf("warnings %q", warned)
	}
	// Without SkipOtherPlatforms a host no variant runs is refused.
	_, err = PushVariants(context.Background(), src, "lab/x:set", vs, targets(hosts, "r1"), PushOptions{})
	var nv *NoVariantError
	if !errors.As(err, &nv) || nv.Host != "r1" {
		t.Errorf("err %v", err)
	}
}
