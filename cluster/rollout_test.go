package cluster

import "testing"

func TestUpdateStateDisplay(t *testing.T) {
	for s, want := range map[UpdateState]string{
		UpdateCompleted: "completed", UpdatePaused: "paused", UpdateRollbackCompleted: "rollback completed", UpdateFailed: "failed",
	} {
		if got := s.Display(); got != want {
			t.Errorf("%q.Display() = %q, want %q", s, got, want)
		}
		if s.Completed() != (s == UpdateCompleted) {
			t.Errorf("%q.Completed() = %v", s, s.Completed())
		}
	}
	for _, o := range UpdateOrders() {
		if !o.Known() {
			t.Errorf("%q not known", o)
		}
	}
	if UpdateOrder("first-stop").Known() {
		t.Error("a misspelt order is known")
	}
	if n := len(FailureActions(false)); n != 2 {
		t.Errorf("rollback_config allows %d failure actions, want pause and continue", n)
	}
}
