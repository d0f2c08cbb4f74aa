package run

import (
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
)

// Reporter hears what a run does; the CLI renders it for people or drops
// what a JSON document carries anyway. Implementations must be safe for
// concurrent use: hosts report progress in parallel.
type Reporter interface {
	reconcile.Reporter // progress of observe and apply
	// Notice is something the operator should know that is not progress.
	Notice(Notice)
	// Plan is the plan, before anything changes. It is not called on a
	// quiet run whose plan has nothing to do.
	Plan(p *planner.Plan)
	// Applied sums up what a run changed on the hosts, once it is saved.
	Applied(summary string, serial int64)
	// Interrupted says what a run interrupted mid-rollout left to do.
	Interrupted(Leftover)
}

// Level says how loud a Notice is.
type Level int

const (
	LevelInfo Level = iota
	LevelWarn
	LevelError
)

// Notice is one message of the run; Stack names the stack it is about.
type Notice struct {
	Level   Level
	Message string
	Stack   string
}

// Leftover is what an interrupted run left: slots without a replica,
// replicas of an older generation, replicas to remove. Err says the
// hosts could not be planned again.
type Leftover struct {
	Missing, Outdated, Surplus []string
	Err                        error
}

// discard hears nothing: the Reporter of Deps without one.
type discard struct{}

func (discard) Report(reconcile.Event) {}
func (discard) Notice(Notice)          {}
func (discard) Plan(*planner.Plan)     {}
func (discard) Applied(string, int64)  {}
func (discard) Interrupted(Leftover)   {}
