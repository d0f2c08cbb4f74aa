package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Reader reads the current state. A store with no state yet returns
// ErrNoState.
type Reader interface {
	Read(ctx context.Context) (*State, error)
}

// Writer persists a new state version.
type Writer interface {
	Write(ctx context.Context, s *State) error
}

// Locker serialises runs. Lock returns a held Lock; Release gives it up.
type Locker interface {
	Lock(ctx context.Context, info LockInfo) (Lock, error)
	// LockStatus reports the current holder, or nil when unlocked.
	LockStatus(ctx context.Context) (*LockInfo, error)
	// ForceUnlock removes a lock whoever holds it.
	ForceUnlock(ctx context.Context) error
}

// Store is the state backend: a reader, a writer and a locker.
type Store interface {
	Reader
	Writer
	Locker
	// Describe names the backend and location for messages.
	Describe() string
}

// Lock is a held lock. It renews itself until released.
type Lock interface {
	Info() LockInfo
	Release(ctx context.Context) error
	// Lost is closed if renewing the lock failed and it may have been
	// taken by another run; the holder should stop changing the cluster.
	Lost() <-chan struct{}
}

// LockInfo describes a lock holder. Machine (the host name) is for
// display; MachineID, BootID, PIDNamespace and StartTime identify the
// holding process (see Identity). They are empty in locks written by
// drovers from before they existed.
type LockInfo struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"` // user@machine
	Machine string    `json:"machine"`
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`

	MachineID    string `json:"machine_id,omitempty"`
	BootID       string `json:"boot_id,omitempty"`
	PIDNamespace string `json:"pid_ns,omitempty"`
	// StartTime is the holder's start, in clock ticks after boot (field
	// 22 of /proc/PID/stat); 0 when unknown.
	StartTime uint64 `json:"start_time,omitempty"`
}

func (l LockInfo) String() string {
	machine := l.Machine
	if l.MachineID != "" {
		// Host names may repeat: the machine ID tells same-named
		// machines apart.
		machine += " [machine " + l.MachineID[:min(8, len(l.MachineID))] + "]"
	}
	return fmt.Sprintf("%s (pid %d on %s, %q, since %s, expires %s)", l.Owner, l.PID, machine, l.Command,
		l.Created.Format(time.RFC3339), l.Expires.Format(time.RFC3339))
}

// ErrNoState means the store holds no state yet.
var ErrNoState = errors.New("no state yet")

// LockHeldError is returned when another run holds the lock.
type LockHeldError struct {
	Holder LockInfo
	Where  string
}

func (e *LockHeldError) Error() string {
	return fmt.Sprintf("state is locked by %s at %s; wait for it, use --lock-timeout, or `drover lock release --force` if that run is gone", e.Holder, e.Where)
}

// ErrLockHeld matches any *LockHeldError with errors.Is.
var ErrLockHeld = errors.New("state lock held")

func (e *LockHeldError) Is(target error) bool { return target == ErrLockHeld }

// LockWithRetry acquires the lock, retrying while it is held until timeout
// (0 = fail fast).
func LockWithRetry(ctx context.Context, l Locker, info LockInfo, timeout time.Duration, poll time.Duration) (Lock, error) {
	deadline := time.Now().Add(timeout)
	for {
		lk, err := l.Lock(ctx, info)
		if err == nil || !errors.Is(err, ErrLockHeld) || timeout <= 0 || time.Now().After(deadline) {
			return lk, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
