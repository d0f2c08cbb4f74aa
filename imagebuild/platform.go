package imagebuild

import (
	"fmt"
	"sort"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// ChoosePlatform decides what a service is built for: build.platforms
// when the compose file names one, else the platform of the nodes its
// replicas may go to. It returns the platform to ask the builder for (""
// for the builder's own) and, when those nodes have several platforms, a
// warning: one platform is built (the builder's when it is among them),
// and placement keeps the replicas on nodes of that platform.
func ChoosePlatform(declared []string, builder cluster.Platform, nodes []cluster.Platform) (string, string) {
	if len(declared) > 0 {
		return declared[0], ""
	}
	seen := map[string]cluster.Platform{}
	for _, p := range nodes {
		if p.Known() {
			p = p.Normalize()
			seen[p.String()] = p
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	own := builder.Known() && seen[builder.Normalize().String()].Known()
	switch {
	case len(names) == 0:
		return "", ""
	case len(names) == 1 && own:
		return "", ""
	case len(names) == 1:
		return names[0], ""
	}
	pick := names[0]
	if own {
		pick = builder.Normalize().String()
	}
	return pickFor(pick, builder), fmt.Sprintf("the service may run on nodes of %s: built for %s only (multi-platform builds are not supported yet); its replicas go to %s nodes",
		strings.Join(names, ", "), pick, pick)
}

func pickFor(pick string, builder cluster.Platform) string {
	if builder.Known() && builder.Normalize().String() == pick {
		return ""
	}
	return pick
}
