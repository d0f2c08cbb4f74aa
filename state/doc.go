// Package state keeps drover's versioned state document: the desired stacks it
// last applied, node settings and an audit trail of runs.
//
// A Store reads and writes the document and serialises runs with a lock that
// expires unless renewed, so that a killed run never wedges the cluster. The
// local backend keeps a JSON file beside the inventory; writes are atomic
// (temp file, fsync, rename) and the previous version is kept as .backup.
package state
