package engine

import (
	"errors"
	"sync"

	"github.com/drover-sh/drover/ssh"
)

// Liveness remembers, for one host during one run, that its docker engine
// stopped answering: later commands fail at once instead of each waiting
// out its own deadline. Engines of the same host share one; the zero
// value is ready to use.
type Liveness struct {
	mu  sync.Mutex
	err error // the first read or change that timed out
}

// Err returns why the engine is considered stuck, nil if it is not.
func (l *Liveness) Err() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// note records err if it shows a stuck engine: a read or a change that
// did not finish in time. A slow transfer (pull, load) says nothing about
// the daemon, and other failures are the command's own.
func (l *Liveness) note(kind opKind, err error) {
	var te *ssh.CommandTimeoutError
	if l == nil || (kind != opRead && kind != opChange) || !errors.As(err, &te) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = classify(err)
	}
}
