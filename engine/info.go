package engine

import (
	"errors"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// Facts are what the engine's /info says about a host.
type Facts struct {
	EngineVersion string
	OS            string
	Arch          string // Go style: amd64, arm64
	Variant       string // v7 for armv7l, v6 for armv6l, else ""
	CPUs          int
	MemoryBytes   int64
	Hostname      string
	// ID is the engine's own ID (docker info's ID): two names for one
	// engine (a host that is also the local engine) have the same.
	ID string
}

// ErrDockerDown means the stream to the engine opened but the daemon
// did not answer.
var ErrDockerDown = errors.New("docker daemon not reachable")

// GoArch maps uname -m names to Go's, as docker's platform constraints use.
func GoArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	case "armv7l", "armv6l":
		return "arm"
	case "i386", "i686":
		return "386"
	}
	return a
}

// Apply copies the facts onto a node.
func (f Facts) Apply(n *cluster.Node) {
	n.EngineVersion = f.EngineVersion
	n.OS = f.OS
	n.Arch = f.Arch
	n.Variant = f.Variant
	n.CPUs = f.CPUs
	n.MemoryBytes = f.MemoryBytes
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
