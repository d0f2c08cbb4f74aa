package cluster

// The rollout vocabulary: update_config's order and failure_action, and
// how a service's rolling update ended. The spellings are those of the
// compose file and of the state file and `-o json`: they are interface.

// UpdateOrder is update_config.order: whether an old replica stops before
// its replacement starts, or after the replacement passed.
type UpdateOrder string

const (
	StopFirst  UpdateOrder = "stop-first"
	StartFirst UpdateOrder = "start-first"
)

// UpdateOrders are the orders a compose file may name.
func UpdateOrders() []UpdateOrder { return []UpdateOrder{StopFirst, StartFirst} }

// Known reports whether o is one of UpdateOrders.
func (o UpdateOrder) Known() bool { return o == StopFirst || o == StartFirst }

// FailureAction is update_config.failure_action: what a rollout does once
// failures pass max_failure_ratio.
type FailureAction string

const (
	FailurePause    FailureAction = "pause"
	FailureContinue FailureAction = "continue"
	// FailureRollback is for update_config only: a rollback that fails
	// has nothing to roll back to.
	FailureRollback FailureAction = "rollback"
)

// FailureActions are the actions update_config (update) or
// rollback_config (!update) may name.
func FailureActions(update bool) []FailureAction {
	if update {
		return []FailureAction{FailurePause, FailureContinue, FailureRollback}
	}
	return []FailureAction{FailurePause, FailureContinue}
}

// UpdateState is how a service's last rollout ended, as the state file
// (update.state), `-o json` (update_state) and the tables show it.
type UpdateState string

const (
	UpdateCompleted UpdateState = "completed"
	UpdatePaused    UpdateState = "paused"
	// UpdateRollbackCompleted: the rollout failed and failure_action
	// rollback put the previous generation back.
	UpdateRollbackCompleted UpdateState = "rollback_completed"
	UpdateFailed            UpdateState = "failed"
)

// Completed reports whether the rollout finished as planned; any other
// state is unfinished business that tables show with its reason.
func (s UpdateState) Completed() bool { return s == UpdateCompleted }

// Display is the state as prose, for tables, messages and the run
// history: "rollback completed".
func (s UpdateState) Display() string {
	if s == UpdateRollbackCompleted {
		return "rollback completed"
	}
	return string(s)
}
