// Package engine drives the docker engine of one host through the Engine
// API (API, over a stream of the run's SSH connection: `docker system
// dial-stdio`, or the engine's socket; every call passes the one choke
// point in chokepoint.go, which gives it its deadline, refuses changes
// under dry run and writes the audit line).
package engine

// Engine is the docker engine of one host.
type Engine struct {
	Host    string // inventory name, for messages
	Cluster string // value of the drover.cluster label
	// API serves every operation: one client per host for the run, so its
	// streams are reused and a host whose engine stopped answering is not
	// waited for again.
	API *API
	// Audit, when set, is told every operation that changes the host (not
	// reads), after it ran, with its error, named as the docker command
	// that would have made it ("docker create+start NAME"). The names hold
	// no secrets: env values travel in request bodies.
	Audit func(host string, argv []string, err error)
}

// audit tells Audit about a change.
func (e *Engine) audit(args []string, err error) {
	if e.Audit != nil {
		e.Audit(e.Host, append([]string{"docker"}, args...), err)
	}
}
