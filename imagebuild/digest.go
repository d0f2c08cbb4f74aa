package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// ContextTagPrefix starts the second tag a build on a host gives its
// image, REPOSITORY:ctx-DIGEST (ContextTag), so that a later build of the
// same inputs finds the image there and sends nothing. A tag, not a
// label: a label would count in the image ID, and a change to a file the
// Dockerfile never copies would then roll the service out.
const ContextTagPrefix = "ctx-"

// ContextTag is the tag naming the image built from the inputs of digest
// (ContextDigest) in repository: 128 bits of the digest are plenty to
// tell a service's builds apart.
func ContextTag(repository, digest string) string {
	hexes := strings.TrimPrefix(digest, "sha256:")
	if len(hexes) > 32 {
		hexes = hexes[:32]
	}
	return repository + ":" + ContextTagPrefix + hexes
}

// contextDigestVersion changes when what ContextDigest covers does: an
// image of an older digest is then built again, never reused wrongly.
const contextDigestVersion = "drover build context v1"

// ContextDigest is the digest ("sha256:…") of what a build on a host
// depends on: the context as it is sent (after .dockerignore; file
// names, modes and contents, not times), the Dockerfile's path in it and
// the inline Dockerfile, the build args, target, platform, labels (those
// of the compose file and drover's) and the other options the engine is
// given. Two builds with the same digest make the same image.
func ContextDigest(b *cluster.Build, dockerfile string, labels map[string]string) (string, error) {
	sum := sha256.New()
	io.WriteString(sum, contextDigestVersion+"\n")
	if err := writeContext(sum, b.Context, dockerfile, b.DockerfileInline, true); err != nil {
		return "", err
	}
	platform := ""
	if len(b.Platforms) > 0 {
		platform = b.Platforms[0]
	}
	// JSON: maps in key order, every field delimited.
	opts, err := json.Marshal(struct {
		Dockerfile string            `json:"dockerfile"`
		Args       map[string]string `json:"args"`
		Target     string            `json:"target"`
		Platform   string            `json:"platform"`
		Labels     map[string]string `json:"labels"`
		CacheFrom  []string          `json:"cache_from"`
		Network    string            `json:"network"`
		ExtraHosts []string          `json:"extra_hosts"`
		ShmSize    int64             `json:"shm_size"`
	}{dockerfile, b.Args, b.Target, platform, labels, b.CacheFrom, b.Network, b.ExtraHosts, b.ShmSize})
	if err != nil {
		return "", fmt.Errorf("build options: %w", err)
	}
	sum.Write([]byte{0})
	sum.Write(opts)
	return "sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}
