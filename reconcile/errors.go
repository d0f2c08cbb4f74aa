package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// PreflightError reports a problem found before anything changed (an image
// no host can get): the run was refused as a whole.
type PreflightError struct{ Err error }

func (e *PreflightError) Error() string { return "nothing was changed: " + e.Err.Error() }
func (e *PreflightError) Unwrap() error { return e.Err }

// ImageMissingError: a host lacks an image and could not pull it. Err is
// the pull's error.
type ImageMissingError struct {
	Image, Host string
	Err         error
}

func (e *ImageMissingError) Error() string {
	return fmt.Sprintf("image %s is not on %s and pulling it failed (%s): push it with `drover image push %s` or deploy with --push",
		e.Image, e.Host, firstLine(e.Err.Error()), e.Image)
}

func (e *ImageMissingError) Unwrap() error { return e.Err }

// UpdateError reports a service whose rollout did not complete. Err is
// what made it fail (the first failed batch's error; with a failed
// rollback, that joined with the rollback's), for errors.Is/As.
type UpdateError struct {
	Service string
	State   cluster.UpdateState // never UpdateCompleted
	Reason  string
	Err     error
}

func (e *UpdateError) Error() string {
	return fmt.Sprintf("%s: update %s: %s", e.Service, e.State.Display(), e.Reason)
}

func (e *UpdateError) Unwrap() error { return e.Err }

// ReplicaFailure is how a new replica failed its monitor window.
type ReplicaFailure int

const (
	ReplicaExited     ReplicaFailure = iota + 1 // exited or dead
	ReplicaRestarted                            // docker restarted it
	ReplicaUnhealthy                            // its healthcheck failed
	ReplicaNotHealthy                           // still starting when the health limit passed
)

// ReplicaFailedError reports a new replica that failed its monitor window.
type ReplicaFailedError struct {
	Replica, Host string
	Failure       ReplicaFailure
	ExitCode      int           // ReplicaExited
	Limit         time.Duration // ReplicaNotHealthy
}

func (e *ReplicaFailedError) Error() string {
	switch e.Failure {
	case ReplicaExited:
		return fmt.Sprintf("replica %s on %s exited (code %d)", e.Replica, e.Host, e.ExitCode)
	case ReplicaRestarted:
		return fmt.Sprintf("replica %s on %s restarted", e.Replica, e.Host)
	case ReplicaUnhealthy:
		return fmt.Sprintf("replica %s on %s is unhealthy", e.Replica, e.Host)
	default:
		return fmt.Sprintf("replica %s on %s did not become healthy within %s", e.Replica, e.Host, e.Limit)
	}
}

// UpdateTimeoutError: a rolling update ran past its update_timeout (or
// --timeout). It matches context.DeadlineExceeded.
type UpdateTimeoutError struct{ After time.Duration }

func (e *UpdateTimeoutError) Error() string {
	return fmt.Sprintf("update did not finish within %s (update_timeout)", e.After)
}

func (e *UpdateTimeoutError) Unwrap() error { return context.DeadlineExceeded }
