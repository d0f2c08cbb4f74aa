package reconcile

import "github.com/drover-sh/drover/cluster"

// The decisions of a rolling update, as pure functions of the policy and
// the tally so far: the I/O side only carries them out. The batches and
// the stop-first fallback are the plan's (planner.Rollout).

// failureStep is what a rollout does once a batch failed.
type failureStep int

const (
	goOn            failureStep = iota // next batch
	rollBack                           // failure_action rollback, to the previous generation
	pause                              // failure_action pause (or continue past the update timeout)
	pauseNoPrevious                    // failure_action rollback without a previous generation
)

// afterFailure decides, after failures of total replicas failed: a
// failure_action of continue goes on until the update times out; the
// others go on while the failure ratio stays within max_failure_ratio,
// and stop the rollout past it.
func afterFailure(pol cluster.UpdatePolicy, failures, total int, timedOut, hasPrevious bool) failureStep {
	if !timedOut && (pol.FailureAction == cluster.FailureContinue || !overRatio(pol, failures, total)) {
		return goOn
	}
	switch {
	case pol.FailureAction == cluster.FailureRollback && hasPrevious:
		return rollBack
	case pol.FailureAction == cluster.FailureRollback:
		return pauseNoPrevious
	}
	return pause
}

// failedAtEnd says a rollout that went through every batch failed: more
// of its replicas failed than max_failure_ratio allows.
func failedAtEnd(pol cluster.UpdatePolicy, failures, total int) bool {
	return failures > 0 && overRatio(pol, failures, total)
}

func overRatio(pol cluster.UpdatePolicy, failures, total int) bool {
	return float64(failures)/float64(total) > pol.MaxFailureRatio
}
