package compose

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover-sh/drover/cluster"
)

// errBuildNeeded refuses a service with build: and no image: when the run
// does not build.
var errBuildNeeded = errors.New("no image: its build: is only used with --build (`drover stack deploy --build` builds it and ships it to the hosts), or set image:")

// build maps a service's build: section (nil when it has none), and warns
// about its keys drover does not honour. buildOn is x-drover.build_on.
func (c *converter) build(s types.ServiceConfig, buildOn string) (*cluster.Build, error) {
	if s.Build == nil {
		if buildOn != "" {
			return nil, errors.New("x-drover.build_on: the service has no build: section")
		}
		return nil, nil
	}
	if !c.withBuild {
		if s.Image == "" {
			return nil, errBuildNeeded
		}
		c.warnings = append(c.warnings, Warning{
			File: c.serviceFile(s.Name, "build"), Service: s.Name, Key: "build",
			Message: "key build is ignored without --build: image " + s.Image + " is deployed as it is (hosts must have or pull it)",
		})
		return nil, nil
	}
	for _, f := range unsupportedKeys(*s.Build, buildRules) {
		c.warnService(s.Name, "build."+f.key, f.note)
	}
	bc := s.Build
	b := &cluster.Build{
		Service:          s.Name,
		Repository:       repository(s.Image, c.stack, s.Name),
		ImageGiven:       s.Image != "",
		Image:            s.Image,
		Context:          bc.Context,
		Dockerfile:       bc.Dockerfile,
		DockerfileInline: bc.DockerfileInline,
		Target:           bc.Target,
		Labels:           copyMap(bc.Labels),
		Platforms:        append([]string(nil), bc.Platforms...),
		CacheFrom:        append([]string(nil), bc.CacheFrom...),
		CacheTo:          append([]string(nil), bc.CacheTo...),
		NoCache:          bc.NoCache,
		Pull:             bc.Pull,
		Network:          bc.Network,
		ShmSize:          int64(bc.ShmSize),
		On:               buildOn,
	}
	if b.Context == "" {
		b.Context = "."
	}
	for k, v := range bc.Args {
		if v == nil {
			continue // no value and none in the environment: not passed, as with docker compose
		}
		if b.Args == nil {
			b.Args = map[string]string{}
		}
		b.Args[k] = *v
	}
	for host, ips := range bc.ExtraHosts {
		for _, ip := range ips {
			b.ExtraHosts = append(b.ExtraHosts, host+":"+ip)
		}
	}
	sort.Strings(b.ExtraHosts)
	for _, k := range bc.SSH {
		switch {
		case k.Path == "":
			b.SSH = append(b.SSH, k.ID)
		default:
			b.SSH = append(b.SSH, k.ID+"="+k.Path)
		}
	}
	for _, sec := range bc.Secrets {
		top, ok := c.p.Secrets[sec.Source]
		if !ok {
			return nil, fmt.Errorf("build.secrets: no top-level secret %q", sec.Source)
		}
		bs := cluster.BuildSecret{ID: sec.Source}
		switch {
		case top.File != "":
			bs.File = top.File
		case top.Environment != "":
			bs.Env = top.Environment
		default:
			return nil, fmt.Errorf("build.secrets: secret %q needs file: or environment: to be used in a build", sec.Source)
		}
		b.Secrets = append(b.Secrets, bs)
	}
	return b, nil
}

// repository is the name of a built image: image: without its tag or
// digest, else STACK_SERVICE in lower case (docker refuses capitals).
func repository(image, stack, service string) string {
	if image == "" {
		return strings.ToLower(stack + "_" + service)
	}
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		image = image[:i]
	}
	return image
}
