package planner

import (
	"time"

	"github.com/drover-sh/drover/cluster"
)

// Input is everything Compute looks at.
type Input struct {
	// Services is the desired state of every service drover knows, of all
	// stacks: out-of-scope services are never changed, but their ports and
	// reservations count when placing the others.
	Services []*cluster.Service
	// Previous holds each service's previous generation (by full name),
	// for the automatic rollback of a failed update; the plan carries
	// those of the services it changes.
	Previous map[string]*cluster.Service
	// Scope lists the stacks this run may change; nil or empty means all.
	Scope map[string]bool
	// Observed has one entry per host, Ready or not. Down hosts carry no
	// replicas: the planner cannot tell what runs there.
	Observed []cluster.HostObservation
	// Specs maps the spec hashes of earlier generations (from the state
	// file) to their ContainerSpec, to describe what a replace changes.
	Specs map[string]cluster.ContainerSpec
	// Networks and Volumes are the stacks' networks and volumes keyed by
	// docker name. They are only consulted to skip external ones, which drover
	// never creates; a name missing here is created like a stack one.
	Networks map[string]cluster.Network
	Volumes  map[string]cluster.Volume
	// Now is the planner's clock (for UnhealthyGrace).
	Now time.Time
	// UnhealthyGrace, when set, replaces running replicas that have been
	// unhealthy for at least this long (Replica.UnhealthySince).
	UnhealthyGrace time.Duration
	// FixDrift replaces replicas whose container drifted from its spec
	// (Replica.Drift); without it drift is only a warning.
	FixDrift bool
	// UseRollbackPolicy rolls replacements with each service's
	// rollback_config instead of its update_config (service rollback).
	UseRollbackPolicy bool
	// ImagePlatforms maps an image reference, as the services name it, to
	// the platforms it has: the copies on the hosts, the archive or local
	// image being pushed, a registry's manifest list. A replica goes only to
	// a node whose platform one of them runs on. An image missing here has
	// unknown platforms and does not limit placement.
	ImagePlatforms map[string][]cluster.Platform
	// HostImagePlatforms maps a host to the platform of each image copy it
	// holds (image reference as the services name it). A node with a copy
	// runs that copy, not another variant: docker pulls nothing over it.
	// Leave out images about to be replaced everywhere (stack deploy --push).
	HostImagePlatforms map[string]map[string]cluster.Platform
}

// inScope reports whether this run may change the given stack.
func (in *Input) inScope(stack string) bool {
	return len(in.Scope) == 0 || in.Scope[stack]
}
