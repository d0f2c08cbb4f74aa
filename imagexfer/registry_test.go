package imagexfer

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// An in-process registry (go-containerregistry's, on a loopback listener)
// serving a multi-platform index and a single-platform image.
func TestRegistryPlatforms(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.Replace(strings.TrimPrefix(srv.URL, "http://"), "127.0.0.1", "localhost", 1) // localhost: plain HTTP

	idx := v1.ImageIndex(empty.Index)
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: platformImage(t, p.OS+"/"+p.Architecture), Descriptor: v1.Descriptor{Platform: &p}})
	}
	att, _ := random.Image(16, 1)
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}}})
	multi, _ := name.ParseReference(host + "/lab/x:v1")
	if err := remote.WriteIndex(multi, idx); err != nil {
		t.Fatal(err)
	}
	single, _ := name.ParseReference(host + "/lab/y:v1")
	if err := remote.Write(single, platformImage(t, "linux/arm/v7")); err != nil {
		t.Fatal(err)
	}

	for ref, want := range map[string][]string{host + "/lab/x:v1": {"linux/amd64", "linux/arm64"}, host + "/lab/y:v1": {"linux/arm/v7"}} {
		ps, err := RegistryPlatforms(context.Background(), ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", ref, got, want)
		}
	}
	if _, err := RegistryPlatforms(context.Background(), host+"/lab/none:v1"); err == nil {
		t.Error("a missing image gave no error")
	}
}
