package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/drover-sh/drover/ssh"
)

// Defaults of Timeouts, for fields left zero.
const (
	DefaultReadTimeout     = 30 * time.Second
	DefaultChangeTimeout   = 2 * time.Minute
	DefaultTransferTimeout = 10 * time.Minute
)

// Timeouts bound each docker command by what it does, so that a stuck
// dockerd fails its host within a known time instead of hanging the run
// (and its lock lease) forever. Zero fields take the defaults.
type Timeouts struct {
	// Read: commands that only look (observe, docker info, inspect).
	// A healthy engine answers them in well under a second.
	Read time.Duration
	// Change: commands that create, start, stop or remove containers,
	// networks and volumes. A stop also gets the container's grace period
	// on top.
	Change time.Duration
	// Transfer: commands that move images or logs (pull, load, logs
	// without --follow), whose duration grows with their size.
	Transfer time.Duration
}

// opKind says which of Timeouts bounds a command.
type opKind int

const (
	opRead opKind = iota
	opChange
	opTransfer
	opFollow // follows output until the caller's context ends: no bound
)

func (t Timeouts) limit(k opKind) time.Duration {
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	switch k {
	case opRead:
		return pick(t.Read, DefaultReadTimeout)
	case opChange:
		return pick(t.Change, DefaultChangeTimeout)
	case opTransfer:
		return pick(t.Transfer, DefaultTransferTimeout)
	}
	return 0
}

// run is the one place every docker command passes through on its way to
// the transport: it gives the command its deadline (extra lengthens it: a
// stop's grace period) and lets the transport retry reads, and only reads,
// over a new connection when the old one died under them.
func (e *Engine) run(ctx context.Context, kind opKind, extra time.Duration, cmd ssh.Cmd) (ssh.Result, error) {
	if d := e.Timeouts.limit(kind); d > 0 {
		cmd.Timeout = d + extra
	}
	cmd.Idempotent = kind == opRead
	if err := e.Liveness.Err(); err != nil {
		return ssh.Result{}, fmt.Errorf("not run, docker stopped answering earlier in this run: %w", err)
	}
	res, err := e.R.Run(ctx, cmd)
	e.Liveness.note(kind, err)
	return res, err
}
