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
	if !n.Platform().Known() {
		return true
	}
	if p, ok := s.copies[n.Name]; ok && p.Known() {
		return n.Platform().Runs(p)
	}
	if len(s.platforms) == 0 {
		return true
	}
	_, ok := n.Platform().BestFor(s.platforms)
	return ok
}

// noVariant says why the image does not run on n: the image has no
// variant for n's platform, or it has one but n holds a copy of another.
func (s *service) noVariant(n *cluster.Node) reason {
	known := s.knownPlatforms()
	if p, ok := s.copies[n.Name]; ok {
		if _, elsewhere := n.Platform().BestFor(known); !elsewhere {
			return reason{code: noVariant, detail: s.spec.Container.Image + " (platforms " + cluster.PlatformList(known) + ")"}
		}
		return reason{code: wrongCopy, detail: s.spec.Container.Image + " built for " + p.String() + " (remove it, or load the " + n.Platform().String() + " variant)"}
	}
	return reason{code: noVariant, detail: s.spec.Container.Image + " (platforms " + cluster.PlatformList(known) + ")"}
}

// knownPlatforms are the image's platforms and those of its copies on the
// hosts, sorted.
func (s *service) knownPlatforms() []cluster.Platform {
	seen := map[cluster.Platform]bool{}
	var out []cluster.Platform
	add := func(p cluster.Platform) {
		if p.Known() && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range s.platforms {
		add(p)
	}
	for _, p := range s.copies {
		add(p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// imageCopies picks the copies of one image out of the hosts' lists.
func imageCopies(hosts map[string]map[string]cluster.Platform, image string) map[string]cluster.Platform {
	var out map[string]cluster.Platform
	for host, images := range hosts {
		if p, ok := images[image]; ok {
			if out == nil {
				out = map[string]cluster.Platform{}
			}
			out[host] = p
		}
	}
	return out
}

// platformMismatch explains a service that no eligible node (one passing
// its constraints, with known facts) has a variant of its image for:
// "lab/x:v1 is linux/arm64 only; eligible nodes h1, h2, h3 are
// linux/amd64". It is "" when some eligible node runs the image, or when
// no node is eligible or known at all (the constraints say why).
func (w *world) platformMismatch(s *service) string {
	known := s.knownPlatforms()
	if len(known) == 0 {
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
	return s.spec.Container.Image + " is " + cluster.PlatformList(known) + " only; " + nodes + strings.Join(groups, "; ")
}
