package planner

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// renderOrder writes the dependency levels of the services the plan
// changes, when there is more than one: apply rolls them out in this
// order.
//
//	order: [demo_db] then [demo_api demo_web]
func (p *Plan) renderOrder(b *bytes.Buffer) bool {
	changed := map[string]bool{}
	for i := range p.Actions {
		if p.Actions[i].Kind != Keep {
			changed[p.Actions[i].Service] = true
		}
	}
	var steps []string
	for _, names := range p.Levels {
		var in []string
		for _, n := range names {
			if changed[n] {
				in = append(in, n)
			}
		}
		if len(in) > 0 {
			steps = append(steps, "["+strings.Join(in, " ")+"]")
		}
	}
	if len(steps) < 2 {
		return false
	}
	fmt.Fprintf(b, "order: %s\n", strings.Join(steps, " then "))
	return true
}

// renderRollouts writes each rolling update as apply carries it out: its
// batches of slots, stop-first or start-first (and why it falls back),
// and the policy it rolls under.
//
//	rolling updates:
//	  demo_web  batches [1 2] [3], start-first, monitor 5s, on failure rollback
func (p *Plan) renderRollouts(b *bytes.Buffer) bool {
	if len(p.Rollouts) == 0 {
		return false
	}
	w := 0
	for _, r := range p.Rollouts {
		w = max(w, len(r.Service))
	}
	b.WriteString("rolling updates:\n")
	for _, r := range p.Rollouts {
		batches := make([]string, len(r.Batches))
		for i, slots := range r.Batches {
			batches[i] = "[" + strings.Join(slots, " ") + "]"
		}
		parts := []string{"batches " + strings.Join(batches, " ")}
		if r.StopFirst {
			parts = append(parts, string(cluster.StopFirst))
		} else {
			parts = append(parts, string(cluster.StartFirst))
		}
		pol := r.Policy
		if pol.Delay > 0 {
			parts = append(parts, "delay "+pol.Delay.String())
		}
		parts = append(parts, "monitor "+pol.Monitor.String())
		action := pol.FailureAction
		if action == "" {
			action = cluster.FailurePause
		}
		failure := "on failure " + string(action)
		if pol.MaxFailureRatio > 0 {
			failure += fmt.Sprintf(" (max_failure_ratio %g)", pol.MaxFailureRatio)
		}
		parts = append(parts, failure)
		fmt.Fprintf(b, "  %-*s  %s\n", w, r.Service, strings.Join(parts, ", "))
		if r.Fallback != "" {
			fmt.Fprintf(b, "  %-*s  (%s)\n", w, "", r.Fallback)
		}
	}
	return true
}
