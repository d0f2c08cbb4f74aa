// Package reconcile observes the hosts, applies plans and reports progress:
// the I/O half of a run, around the pure planner.
//
//	observe (one round trip per host, all hosts in parallel)
//	  → planner.Compute
//	  → Apply: images checked (or pulled) everywhere before anything
//	    changes, then networks and volumes, then containers by the plan's
//	    dependency levels (the services of a level side by side): removals,
//	    creations, and replacements in rolling batches gated on health.
//
// The package never prints. Progress goes to a Reporter; the CLI decides
// how people or machines see it.
package reconcile
