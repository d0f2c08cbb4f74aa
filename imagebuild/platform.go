package imagebuild

import (
	"fmt"
	"sort"

	"github.com/drover-sh/drover/cluster"
)

// ChoosePlatforms decides what a service is built for: the platforms
// build.platforms names when the compose file has the key, else those of
// the nodes its replicas may go to. Each platform is one build (one image,
// one ID: a 20.10 engine's image store holds one platform per image). A
// single platform the builder has is a plain build: the result is then
// [""] (the builder's own platform, no --platform).
//
// With build.platforms, nodes that run none of the declared platforms get
// no variant (placement keeps replicas off them), and a declared platform
// no node runs is built all the same (the file asks for it); both are
// warned about.
func ChoosePlatforms(declared []string, builder cluster.Platform, nodes []cluster.Platform) ([]string, []string, error) {
	seen := map[string]cluster.Platform{}
	for _, p := range nodes {
		if p.Known() {
			p = p.Normalize()
			seen[p.String()] = p
		}
	}
	nodeNames := make([]string, 0, len(seen))
	for n := range seen {
		nodeNames = append(nodeNames, n)
	}
	sort.Strings(nodeNames)
	if len(declared) > 0 {
		return declaredPlatforms(declared, seen, nodeNames)
	}
	own := builder.Known() && seen[builder.Normalize().String()].Known()
	switch {
	case len(nodeNames) == 0:
		return []string{""}, nil, nil
	case len(nodeNames) == 1 && own:
		return []string{""}, nil, nil
	}
	return nodeNames, nil, nil
}

// declaredPlatforms are build.platforms, normalised, without duplicates,
// sorted, with the warnings about nodes they leave out and platforms no
// node runs.
func declaredPlatforms(declared []string, nodes map[string]cluster.Platform, nodeNames []string) ([]string, []string, error) {
	var ps []cluster.Platform
	set := map[string]bool{}
	for _, d := range declared {
		p, err := cluster.ParsePlatform(d)
		if err != nil {
			return nil, nil, fmt.Errorf("build.platforms: %w", err)
		}
		p = p.Normalize()
		if !set[p.String()] {
			set[p.String()] = true
			ps = append(ps, p)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	if len(nodes) == 0 {
		return out, nil, nil
	}
	var warnings []string
	used := map[string]bool{}
	for _, n := range nodeNames {
		best, ok := nodes[n].BestFor(ps)
		if !ok {
			warnings = append(warnings, fmt.Sprintf("nodes of %s run none of build.platforms (%s): no variant is built for them, so replicas stay off them", n, cluster.PlatformList(ps)))
			continue
		}
		used[best.String()] = true
	}
	for _, p := range out {
		if !used[p] {
			warnings = append(warnings, fmt.Sprintf("build.platforms names %s but no node the service may run on needs it: built all the same, sent to no host", p))
		}
	}
	return out, warnings, nil
}
