package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// Facts are what `docker info` says about a host.
type Facts struct {
	EngineVersion string
	OS            string
	Arch          string // Go style: amd64, arm64
	Variant       string // v7 for armv7l, v6 for armv6l, else ""
	CPUs          int
	MemoryBytes   int64
	Hostname      string
}

// dockerInfo is the subset of `docker info --format '{{json .}}'` used.
type dockerInfo struct {
	ServerVersion string
	OSType        string
	Architecture  string
	NCPU          int
	MemTotal      int64
	Name          string
	ServerErrors  []string
}

// ErrDockerDown means the docker CLI answered but the daemon did not.
var ErrDockerDown = errors.New("docker daemon not reachable")

func parseInfo(out []byte, stderr string) (Facts, error) {
	var di dockerInfo
	if err := json.Unmarshal(firstJSONLine(out), &di); err != nil {
		return Facts{}, fmt.Errorf("cannot parse docker info: %w", err)
	}
	return di.facts(stderr)
}

func (di dockerInfo) facts(stderr string) (Facts, error) {
	if di.ServerVersion == "" {
		msg := strings.TrimSpace(strings.Join(di.ServerErrors, "; "))
		if msg == "" {
			msg = strings.TrimSpace(stderr)
		}
		err := fmt.Errorf("%w: %s", ErrDockerDown, firstLine(msg))
		if r := reasonFor(msg, 0); r != "" {
			return Facts{}, &HostError{Reason: r, Err: err}
		}
		return Facts{}, err
	}
	return Facts{
		EngineVersion: di.ServerVersion,
		OS:            di.OSType,
		Arch:          GoArch(di.Architecture),
		Variant:       GoVariant(di.Architecture),
		CPUs:          di.NCPU,
		MemoryBytes:   di.MemTotal,
		Hostname:      di.Name,
	}, nil
}

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

func firstJSONLine(out []byte) []byte {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			return []byte(l)
		}
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Info asks the engine for its facts in one round trip.
func (e *Engine) Info(ctx context.Context) (Facts, error) {
	if e.API != nil {
		return e.API.info(ctx)
	}
	res, err := e.run(ctx, opRead, 0, e.infoCmd())
	if err != nil {
		return Facts{}, classify(err)
	}
	return parseInfo(res.Stdout, string(res.Stderr))
}
