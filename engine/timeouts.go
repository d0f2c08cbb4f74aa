package engine

import "time"

// Defaults of Timeouts, for fields left zero.
const (
	DefaultReadTimeout     = 30 * time.Second
	DefaultChangeTimeout   = 2 * time.Minute
	DefaultTransferTimeout = 10 * time.Minute
)

// Timeouts bound each Engine API call by what it does, so that a stuck
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
