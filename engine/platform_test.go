package engine

import (
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestParseImageFacts(t *testing.T) {
	cases := []struct {
		name, out string
		want      ImageFacts
	}{
		{"engine 20.10, no variant", `{"Id":"sha256:73a3","RepoTags":["drover-test/app:v1"],"Os":"linux","Architecture":"amd64","Size":4215630}`,
			ImageFacts{ID: "sha256:73a3", Platform: cluster.Platform{OS: "linux", Arch: "amd64"}, Size: 4215630}},
		{"arm v7", `{"Id":"sha256:aa","Os":"linux","Architecture":"arm","Variant":"v7","Size":1}`,
			ImageFacts{ID: "sha256:aa", Platform: cluster.Platform{OS: "linux", Arch: "arm", Variant: "v7"}, Size: 1}},
		{"arm64 v8 normalised", `{"Id":"sha256:bb","Os":"linux","Architecture":"arm64","Variant":"v8","Size":2}`,
			ImageFacts{ID: "sha256:bb", Platform: cluster.Platform{OS: "linux", Arch: "arm64"}, Size: 2}},
	}
	for _, c := range cases {
		got, err := ParseImageFacts([]byte(c.out + "\n"))
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	if _, err := ParseImageFacts([]byte("Template parsing error")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestGoVariant(t *testing.T) {
	for in, want := range map[string]string{"armv7l": "v7", "armv6l": "v6", "aarch64": "", "x86_64": ""} {
		if got := GoVariant(in); got != want {
			t.Errorf("GoVariant(%s) = %q, want %q", in, got, want)
		}
	}
}
