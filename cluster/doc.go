// Package cluster holds drover's domain: the inventory of hosts, stacks and
// their services as drover understands them (normalised from compose files),
// what was observed on the hosts, and the facts of each node.
//
// It is a leaf package: it reads the files it is handed and validates them,
// and does no other I/O. Everything else in drover (planner, state store,
// reconciler, CLI) speaks in these types.
package cluster
