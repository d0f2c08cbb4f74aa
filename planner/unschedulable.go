package planner

import (
	"fmt"
	"sort"
	"strings"
)

// UnschedulableError describes replicas that have no node to go to, one
// entry per service (Plan.Unschedulable, Plan.Unsatisfiable).
type UnschedulableError struct {
	Services []ServiceUnschedulable `json:"services"`
}

// ServiceUnschedulable tells, like Swarm, why the replicas of one service
// could not be placed: the first failing reason of each node, counted.
type ServiceUnschedulable struct {
	Service  string       `json:"service"`
	Replicas int          `json:"replicas"` // how many could not be placed
	Reasons  []NodeReason `json:"reasons"`  // most frequent first
	// Platform: see Pending.Platform.
	Platform string `json:"platform,omitempty"`
}

// NodeReason is one reason and how many nodes gave it; Text is the whole
// phrase, e.g. "3 nodes fail node.labels.storage == raid".
type NodeReason struct {
	Text  string `json:"text"`
	Nodes int    `json:"nodes"`
}

func (e *UnschedulableError) Error() string {
	parts := make([]string, len(e.Services))
	for i, s := range e.Services {
		parts[i] = s.String()
	}
	return strings.Join(parts, "; ")
}

// String reads like "web: 2 replicas unschedulable: 1 node has port 8080/tcp
// in use, 2 nodes are not ready".
func (s ServiceUnschedulable) String() string {
	replicas := "replicas"
	if s.Replicas == 1 {
		replicas = "replica"
	}
	if s.Platform != "" {
		return fmt.Sprintf("%s: %s (%d %s unschedulable: %s)", s.Service, s.Platform, s.Replicas, replicas, s.reasonText())
	}
	return fmt.Sprintf("%s: %d %s unschedulable: %s", s.Service, s.Replicas, replicas, s.reasonText())
}

// reasonText joins the reasons: "2 nodes have port 8080/tcp in use, 1 node
// is not ready".
func (s ServiceUnschedulable) reasonText() string {
	texts := make([]string, len(s.Reasons))
	for i, r := range s.Reasons {
		texts[i] = r.Text
	}
	if len(texts) == 0 {
		return "no nodes"
	}
	return strings.Join(texts, ", ")
}

// tally counts reasons per node, most frequent first as Swarm does, then in
// check order, then by text.
func tally(service string, replicas int, reasons []reason) ServiceUnschedulable {
	counts := make(map[reason]int)
	for _, r := range reasons {
		if r.code != fits {
			counts[r]++
		}
	}
	keys := make([]reason, 0, len(counts))
	for r := range counts {
		keys = append(keys, r)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		if a.code != b.code {
			return a.code < b.code
		}
		return a.detail < b.detail
	})
	out := ServiceUnschedulable{Service: service, Replicas: replicas}
	for _, r := range keys {
		n := counts[r]
		nodes := "1 node "
		if n != 1 {
			nodes = fmt.Sprintf("%d nodes ", n)
		}
		out.Reasons = append(out.Reasons, NodeReason{Text: nodes + r.phrase(n != 1), Nodes: n})
	}
	return out
}
