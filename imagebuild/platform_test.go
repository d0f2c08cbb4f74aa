package imagebuild

import (
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestChoosePlatform(t *testing.T) {
	amd := cluster.Platform{OS: "linux", Arch: "amd64"}
	arm := cluster.Platform{OS: "linux", Arch: "arm64"}
	for _, tc := range []struct {
		name     string
		declared []string
		builder  cluster.Platform
		nodes    []cluster.Platform
		want     string
		warn     bool
	}{
		{"same as the builder", nil, amd, []cluster.Platform{amd, amd}, "", false},
		{"arm laptop, amd cluster", nil, arm, []cluster.Platform{amd, amd}, "linux/amd64", false},
		{"mixed, builder among them", nil, amd, []cluster.Platform{amd, arm}, "", true},
		{"mixed, builder not among them", nil, cluster.Platform{OS: "linux", Arch: "riscv64"}, []cluster.Platform{arm, amd}, "linux/amd64", true},
		{"declared wins", []string{"linux/arm64"}, amd, []cluster.Platform{amd}, "linux/arm64", false},
		{"nodes unknown", nil, amd, []cluster.Platform{{}}, "", false},
		{"builder unknown", nil, cluster.Platform{}, []cluster.Platform{amd}, "linux/amd64", false},
	} {
		got, warn := ChoosePlatform(tc.declared, tc.builder, tc.nodes)
		if got != tc.want || (warn != "") != tc.warn {
			t.Errorf("%s: %q, warning %q; want %q, warning %v", tc.name, got, warn, tc.want, tc.warn)
		}
		if warn != "" && !strings.Contains(warn, "linux/amd64, linux/arm64") {
			t.Errorf("%s: warning %q does not name the platforms", tc.name, warn)
		}
	}
}
