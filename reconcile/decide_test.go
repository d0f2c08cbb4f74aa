package reconcile

import (
	"testing"

	"github.com/drover-sh/drover/cluster"
)

func TestAfterFailure(t *testing.T) {
	for _, tc := range []struct {
		action            string
		ratio             float64
		failures, total   int
		timedOut, hasPrev bool
		want              failureStep
	}{
		{"pause", 0, 1, 4, false, true, pause},
		{"pause", 0.5, 2, 4, false, true, goOn}, // within the ratio
		{"pause", 0.5, 3, 4, false, true, pause},
		{"pause", 0.5, 1, 4, true, true, pause}, // timed out: stop whatever the ratio
		{"continue", 0, 4, 4, false, false, goOn},
		{"continue", 0, 1, 4, true, false, pause},
		{"rollback", 0, 1, 4, false, true, rollBack},
		{"rollback", 0, 1, 4, false, false, pauseNoPrevious},
		{"rollback", 0.25, 1, 4, false, true, goOn},
		{"rollback", 0.25, 1, 4, true, true, rollBack},
	} {
		pol := cluster.UpdatePolicy{FailureAction: tc.action, MaxFailureRatio: tc.ratio}
		if got := afterFailure(pol, tc.failures, tc.total, tc.timedOut, tc.hasPrev); got != tc.want {
			t.Errorf("%s ratio %v, %d of %d failed, timed out %v, previous %v: step %d, want %d",
				tc.action, tc.ratio, tc.failures, tc.total, tc.timedOut, tc.hasPrev, got, tc.want)
		}
	}
}

func TestFailedAtEnd(t *testing.T) {
	pol := cluster.UpdatePolicy{FailureAction: "continue", MaxFailureRatio: 0.5}
	for failures, want := range []bool{false, false, false, true, true} {
		if got := failedAtEnd(pol, failures, 4); got != want {
			t.Errorf("%d of 4 failed, max ratio 0.5: failed %v, want %v", failures, got, want)
		}
	}
}
