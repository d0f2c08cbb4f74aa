package planner

import (
	"sort"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// runsOn reports whether the service's image has a variant for the node's
// platform. Unknown image platforms, and a node whose facts are unknown
// (down), are not held against it.
func (s *service) runsOn(n *cluster.Node) bool {
	if len(s.platforms) == 0 || !n.Platform().Known() {
		return true
	}
	_, ok := n.Platform().BestFor(s.platforms)
	return ok
}

func (s *service) noVariant() reason {
	return reason{code: noVariant, detail: s.spec.Container.Image + " (platforms " + cluster.PlatformList(s.platforms) + ")"}
}

// platformMismatch explains a service that no eligible node (one passing
// its constraints, with known facts) has a variant of its image for:
// "lab/x:v1 is linux/arm64 only; eligible nodes h1, h2, h3 are
// linux/amd64". It is "" when some eligible node runs the image, or when
// no node is eligible or known at all (the constraints say why).
func (w *world) platformMismatch(s *service) string {
	if len(s.platforms) == 0 {
		return ""
	}
	byPlatform := map[string][]string{}
	for _, n := range w.nodes {
		if !n.info.Platform().Known() || s.failedConstraint(n.info) != nil {
			continue
		}
		if s.runsOn(n.info) {
			return ""
		}
		p := n.info.Platform().String()
		byPlatform[p] = append(byPlatform[p], n.name)
	}
	if len(byPlatform) == 0 {
		return ""
	}
	keys := make([]string, 0, len(byPlatform))
	for k := range byPlatform {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	groups := make([]string, len(keys))
	total := 0
	for i, k := range keys {
		names := byPlatform[k]
		total += len(names)
		verb := " is "
		if len(names) > 1 {
			verb = " are "
		}
		groups[i] = strings.Join(names, ", ") + verb + k
	}
	nodes := "eligible nodes "
	if total == 1 {
		nodes = "the eligible node "
	}
	return s.spec.Container.Image + " is " + cluster.PlatformList(s.platforms) + " only; " + nodes + strings.Join(groups, "; ")
}
