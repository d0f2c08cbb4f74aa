// Package cluster holds drover's domain: the inventory of hosts, stacks and
// their services as drover understands them (normalised from compose files),
// the rollout vocabulary (rollout.go), what was observed on the hosts, and
// the facts of each node.
//
// It is a leaf package. Its only I/O is on the files it is handed: it reads
// and validates inventories, and makes the few typed edits drover makes to
// an inventory file (edit.go: add or remove a host, point the state
// elsewhere), keeping the file's comments. Everything else in drover
// (planner, state store, reconciler, CLI) speaks in these types.
package cluster
