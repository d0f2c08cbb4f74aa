package imagebuild

import "strings"

// TagLen is the number of hex digits of the image ID a built image's tag has.
const TagLen = 12

// Tag is the content-addressed tag of an image ID ("sha256:8f3c…"): its
// first TagLen hex digits.
func Tag(id string) string {
	hex := strings.TrimPrefix(id, "sha256:")
	if len(hex) > TagLen {
		hex = hex[:TagLen]
	}
	return hex
}

// Ref is REPOSITORY:TAG for an image ID.
func Ref(repository, id string) string { return repository + ":" + Tag(id) }

// Labels every built image carries: prune finds drover's images by them.
const (
	LabelCluster = "drover.cluster"
	LabelService = "drover.service" // STACK_SERVICE
	// LabelPlatformOf is on the copy of a build whose config said another
	// platform than the one asked for (fixplatform.go): the ID of the
	// image it was made from.
	LabelPlatformOf = "drover.platform-of"
)
