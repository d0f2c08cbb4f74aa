package command

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/run"
)

// cliReporter renders a run for people: progress and notices as log lines
// (JSON with --log-format json), the plan and the outcome on stdout. With
// --output json stdout carries only the run's JSON document.
type cliReporter struct{ e *runEnv }

var _ run.Reporter = (*cliReporter)(nil)

// Report logs a progress event: one line per event.
func (r *cliReporter) Report(ev reconcile.Event) {
	lvl := r.e.log.Info()
	switch ev.Kind {
	case reconcile.EventHostDown, reconcile.EventWarning:
		lvl = r.e.log.Warn()
	case reconcile.EventActionFailed:
		lvl = r.e.log.Error()
	}
	l := lvl.Str("event", string(ev.Kind))
	for k, v := range map[string]string{"host": ev.Host, "service": ev.Service, "slot": ev.Slot, "container": ev.Container, "action": string(ev.Action)} {
		if v != "" {
			l = l.Str(k, v)
		}
	}
	l.Msg(ev.Message)
}

func (r *cliReporter) level(l run.Level) *zerolog.Event {
	switch l {
	case run.LevelWarn:
		return r.e.log.Warn()
	case run.LevelError:
		return r.e.log.Error()
	}
	return r.e.log.Info()
}

func (r *cliReporter) Notice(n run.Notice) {
	l := r.level(n.Level)
	if n.Stack != "" {
		l = l.Str("stack", n.Stack)
	}
	l.Msg(n.Message)
}

// Plan prints the plan.
func (r *cliReporter) Plan(p *planner.Plan) {
	if r.e.output == "json" {
		return
	}
	if p.Converged() {
		fmt.Fprintln(r.e.stdio.Stdout, "No changes: the cluster matches the desired state.")
		return
	}
	p.Render(r.e.stdio.Stdout)
}

func (r *cliReporter) Applied(summary string, serial int64) {
	if r.e.output == "json" {
		return
	}
	fmt.Fprintf(r.e.stdio.Stdout, "%s (serial %d)\n", summary, serial)
}

func (r *cliReporter) Interrupted(left run.Leftover) {
	log := r.e.log
	if left.Err != nil {
		log.Warn().Err(left.Err).Msg("interrupted: cannot tell what is left to do; run `drover reconcile`")
		return
	}
	if len(left.Missing)+len(left.Outdated)+len(left.Surplus) == 0 {
		log.Warn().Msg("interrupted: every replica is in place and up to date")
		return
	}
	l := log.Warn()
	if len(left.Missing) > 0 {
		l = l.Strs("missing", left.Missing)
	}
	if len(left.Outdated) > 0 {
		l = l.Strs("outdated", left.Outdated)
	}
	if len(left.Surplus) > 0 {
		l = l.Strs("surplus", left.Surplus)
	}
	l.Msgf("interrupted mid-rollout: %d missing, %d outdated, %d to remove; the next `drover stack deploy` of the same files or `drover reconcile` continues the rollout",
		len(left.Missing), len(left.Outdated), len(left.Surplus))
}
