package run

import (
	"errors"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/planner"
)

// ErrLockLost ends a run whose state lock was taken over.
var ErrLockLost = errors.New("the state lock was lost (taken over by another run): this run's changes were stopped and the state was not saved; run reconcile")

// PendingError ends a run that left replicas pending, so that cron and CI
// notice (exit 3).
type PendingError struct {
	Replicas int
	Err      *planner.UnschedulableError
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s pending (every run tries again): %v", plural(e.Replicas, "replica", "replicas"), e.Err)
}

func (e *PendingError) Unwrap() error { return e.Err }

// pendingError is the PendingError of a plan, nil when nothing is pending.
func pendingError(p *planner.Plan) error {
	ue := p.Unschedulable()
	if ue == nil {
		return nil
	}
	return &PendingError{Replicas: p.PendingReplicas(), Err: ue}
}

// NoStateError refuses a run that finds no state while the hosts carry
// containers of the cluster.
type NoStateError struct {
	Where      string         // the state backend and location
	Cluster    string         // the inventory's cluster name
	Containers int            // drover containers of the cluster observed
	Stacks     map[string]int // their stacks, with container counts
	Hosts      []string       // the hosts they run on
}

func (e *NoStateError) Error() string {
	stacks := make([]string, 0, len(e.Stacks))
	for _, n := range sortedKeys(e.Stacks) {
		name := n
		if name == "" {
			name = `""`
		}
		stacks = append(stacks, fmt.Sprintf("%s (%d)", name, e.Stacks[n]))
	}
	return fmt.Sprintf("no state found at %s, but %s of cluster %q run on %s (stacks: %s): nothing was changed, "+
		"since a missing state would make them look like orphans. "+
		"Point drover at the right state (the inventory's state: section, or -i for another inventory), "+
		"restore it (`drover state push FILE`; the local backend keeps the previous version as STATE.backup), "+
		"or take the running containers under a new state with `drover stack deploy --adopt -c FILE STACK`",
		e.Where, plural(e.Containers, "container", "containers"), e.Cluster, strings.Join(e.Hosts, ", "), strings.Join(stacks, ", "))
}

// refused is the error of a run that stopped before changing anything
// because the desired state cannot be planned.
func refused(dryRun bool, err error) error {
	if dryRun {
		return fmt.Errorf("cannot plan: %w", err)
	}
	return fmt.Errorf("nothing was changed: %w", err)
}
