package imagebuild

import "github.com/drover-sh/drover/cluster"

// withTargetArgs adds to a classic builder's build args the ones BuildKit
// sets itself for the platform built (TARGETPLATFORM, TARGETOS,
// TARGETARCH, TARGETVARIANT), so that one Dockerfile (`ARG TARGETARCH`,
// `COPY app-$TARGETARCH /app`) builds with either builder. The platform is
// the one asked for, else the builder's own; values the compose file sets
// win. args itself is not changed.
func withTargetArgs(args map[string]string, platforms []string, own cluster.Platform) map[string]string {
	p := own
	if len(platforms) == 1 {
		if asked, err := cluster.ParsePlatform(platforms[0]); err == nil {
			p = asked
		}
	}
	if !p.Known() {
		return args
	}
	out := make(map[string]string, len(args)+4)
	for k, v := range map[string]string{"TARGETPLATFORM": p.String(), "TARGETOS": p.OS, "TARGETARCH": p.Arch, "TARGETVARIANT": p.Variant} {
		out[k] = v
	}
	for k, v := range args {
		out[k] = v
	}
	return out
}
