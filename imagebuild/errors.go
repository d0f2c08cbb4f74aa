package imagebuild

import (
	"errors"
	"fmt"
	"strings"
)

// TailLines is how many of the builder's last lines a BuildError keeps.
const TailLines = 15

// BuildError is a service whose build failed. Nothing was deployed.
type BuildError struct {
	Service string // STACK_SERVICE
	Builder string // "the local engine" or "host h1"
	// Platform is the platform asked for ("": the builder's own).
	Platform string
	Lines    []string
	Err      error
}

func (e *BuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "building %s", e.Service)
	if e.Platform != "" {
		fmt.Fprintf(&b, " for %s", e.Platform)
	}
	fmt.Fprintf(&b, " with %s: %v", e.Builder, e.Err)

	if len(e.Lines) > 0 {
		b.WriteString("\nlast lines of the build:")
		for _, l := range e.Lines {
			b.WriteString("\n  ")
			b.WriteString(l)
		}
	}
	return b.String()
}

func (e *BuildError) Unwrap() error { return e.Err }

// ErrNoLocalEngine is what NoLocalEngineError matches with errors.Is.
var ErrNoLocalEngine = errors.New("no local docker engine")

// NoLocalEngineError: a build needs the local engine and there is none.
type NoLocalEngineError struct {
	Service string
	Where   string // DOCKER_HOST, or the default socket
	Reason  string
}

func (e *NoLocalEngineError) Error() string {
	return fmt.Sprintf("cannot build %s: no local docker engine to build with (%s: %s); start one or point DOCKER_HOST (or `docker context use`) at one, "+
		"or build on a cluster host: `x-drover: {build_on: HOST}` on the service, or `build: {on: HOST}` in the inventory", e.Service, e.Where, e.Reason)
}

func (e *NoLocalEngineError) Unwrap() error { return ErrNoLocalEngine }

// tail keeps the last n lines written.
type tail struct {
	n     int
	lines []string
}

func (t *tail) add(l string) {
	t.lines = append(t.lines, l)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}
