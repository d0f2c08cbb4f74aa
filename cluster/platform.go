package cluster

import (
	"fmt"
	"strings"
)

// Platform is an OS, CPU architecture and variant, as OCI image indexes and
// docker name them: linux/amd64, linux/arm64, linux/arm/v7.
type Platform struct {
	OS      string `json:"os"`
	Arch    string `json:"architecture"`
	Variant string `json:"variant,omitempty"`
}

// ParsePlatform reads "os/arch[/variant]".
func ParsePlatform(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/architecture[/variant], e.g. linux/arm64", s)
	}
	p := Platform{OS: parts[0], Arch: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p.Normalize(), nil
}

// Normalize drops the variant arm64 always has (v8), so that an image
// index's "arm64/v8" and an engine's "arm64" compare equal.
func (p Platform) Normalize() Platform {
	if p.Arch == "arm64" && p.Variant == "v8" {
		p.Variant = ""
	}
	return p
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Known reports whether the OS and architecture are known: a node that is
// down has no facts.
func (p Platform) Known() bool { return p.OS != "" && p.Arch != "" }

// Runs reports whether a node of platform p can run an image variant of
// platform img: same OS and architecture, and a variant the node supports
// (an arm/v7 node runs v7, v6 and v5; an unknown variant on either side
// is not held against it).
func (p Platform) Runs(img Platform) bool {
	p, img = p.Normalize(), img.Normalize()
	if p.OS != img.OS || p.Arch != img.Arch {
		return false
	}
	if p.Variant == "" || img.Variant == "" || p.Variant == img.Variant {
		return true
	}
	return p.Arch == "arm" && armLevel(img.Variant) > 0 && armLevel(img.Variant) <= armLevel(p.Variant)
}

// armLevel is 5, 6, 7 or 8 for arm variants v5..v8, 0 otherwise.
func armLevel(v string) int {
	switch v {
	case "v5":
		return 5
	case "v6":
		return 6
	case "v7":
		return 7
	case "v8":
		return 8
	}
	return 0
}

// BestFor picks the variant a node of platform p runs from an image's
// variants: an exact match first, then the highest compatible one. ok is
// false when none fits.
func (p Platform) BestFor(variants []Platform) (Platform, bool) {
	best, found := Platform{}, false
	for _, v := range variants {
		if !p.Runs(v) {
			continue
		}
		if v.Normalize() == p.Normalize() {
			return v, true
		}
		if !found || armLevel(v.Variant) > armLevel(best.Variant) {
			best, found = v, true
		}
	}
	return best, found
}

// PlatformList joins platforms: "linux/amd64, linux/arm64".
func PlatformList(ps []Platform) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// Platform is the node's platform from its engine's facts.
func (n *Node) Platform() Platform { return Platform{OS: n.OS, Arch: n.Arch, Variant: n.Variant} }
