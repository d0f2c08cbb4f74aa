package cluster

// Build says how a service's image is built (compose `build:`), with its
// paths resolved. It is not part of the service's spec: the spec names the
// image a build produced (Repository:TAG, the tag taken from the image
// ID), so an unchanged build changes no spec and rolls nothing out.
type Build struct {
	Service string // compose service name
	// Repository is the image name without a tag: compose's image: (its
	// tag dropped), else STACK_SERVICE in lower case.
	Repository string
	// ImageGiven says the compose file named the image (image:); without
	// --build such a service runs that image as it is.
	ImageGiven bool
	Image      string // image: as written, "" when not given

	Context          string            // absolute directory
	Dockerfile       string            // as written, relative to Context ("" for Dockerfile)
	DockerfileInline string            // the Dockerfile's text, instead of a file
	Args             map[string]string // build args (values are never logged)
	Target           string
	Labels           map[string]string
	Platforms        []string
	CacheFrom        []string
	CacheTo          []string
	NoCache          bool
	Pull             bool
	Network          string
	ExtraHosts       []string // "HOST:IP"
	ShmSize          int64
	Secrets          []BuildSecret
	SSH              []string // "default" or "ID=PATH", as `docker build --ssh` takes them

	// On is the cluster host that builds the image (x-drover.build_on);
	// "" builds with the local docker engine.
	On string
}

// BuildSecret is a build secret of a service: a file or an environment
// variable of the machine running drover, read by the builder only.
type BuildSecret struct {
	ID   string
	File string // absolute path, or
	Env  string // the name of an environment variable
}
