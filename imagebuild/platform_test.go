package imagebuild

import (
	"slices"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestChoosePlatforms(t *testing.T) {
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	arm := cluster.Platform{OS: "linux", Arch: "arm64"}
	i386 := cluster.Platform{OS: "linux", Arch: "386"}
	for _, tc := range []struct {
		name     string
		declared []string
		builder  cluster.Platform
		nodes    []cluster.Platform
		want     []string
		warns    []string // substrings, one per warning
	}{
		{"same as the builder", nil, amd, []cluster.Platform{amd, amd}, []string{""}, nil},
		{"arm laptop, amd cluster", nil, arm, []cluster.Platform{amd, amd}, []string{"linux/amd64"}, nil},
		{"mixed, builder among them", nil, amd, []cluster.Platform{amd, arm, amd}, []string{"linux/amd64", "linux/arm64"}, nil},
		{"mixed, builder not among them", nil, cluster.Platform{OS: "linux", Arch: "riscv64"}, []cluster.Platform{i386, amd}, []string{"linux/386", "linux/amd64"}, nil},
		{"declared wins", []string{"linux/arm64"}, amd, []cluster.Platform{arm}, []string{"linux/arm64"}, nil},
		{"declared several, sorted, deduplicated", []string{"linux/amd64", "linux/386", "linux/amd64"}, amd, []cluster.Platform{amd, i386}, []string{"linux/386", "linux/amd64"}, nil},
		{"declared leaves nodes out", []string{"linux/amd64"}, amd, []cluster.Platform{amd, arm}, []string{"linux/amd64"}, []string{"nodes of linux/arm64 run none of build.platforms"}},
		{"declared a platform no node needs", []string{"linux/amd64", "linux/arm64"}, amd, []cluster.Platform{amd}, []string{"linux/amd64", "linux/arm64"}, []string{"build.platforms names linux/arm64 but no node"}},
		{"declared, nodes unknown", []string{"linux/amd64", "linux/arm64"}, amd, nil, []string{"linux/amd64", "linux/arm64"}, nil},
		{"nodes unknown", nil, amd, []cluster.Platform{{}}, []string{""}, nil},
		{"builder unknown", nil, cluster.Platform{}, []cluster.Platform{amd}, []string{"linux/amd64"}, nil},
	} {
		got, warns, err := ChoosePlatforms(tc.declared, tc.builder, tc.nodes)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if len(warns) != len(tc.warns) {
			t.Errorf("%s: warnings %q, want %d", tc.name, warns, len(tc.warns))
			continue
		}
		for i, w := range tc.warns {
			if !strings.Contains(warns[i], w) {
				t.Errorf("%s: warning %q, want %q", tc.name, warns[i], w)
			}
		}
	}
	if _, _, err := ChoosePlatforms([]string{"amd64"}, amd, nil); err == nil || !strings.Contains(err.Error(), "build.platforms") {
		t.Errorf("a malformed platform: %v", err)
	}
}
