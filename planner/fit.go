package planner

import (
	"strconv"

	"github.com/drover-sh/drover/cluster"
)

// reasonCode is why a node cannot take a new replica. The order of the
// checks (and of the codes) is the order of the first failing reason
// reported per node.
type reasonCode int

const (
	fits reasonCode = iota
	notReady
	unavailable // drained or paused: detail says which
	failsConstraint
	noVariant // the image has no variant for the node's platform
	wrongCopy // the node holds a copy of the image built for another platform
	maxPerNode
	portInUse
	noCPU
	noMemory
)

type reason struct {
	code   reasonCode
	detail string
}

// phrase is the reason's verb phrase for one node or for several.
func (r reason) phrase(plural bool) string {
	verb := func(one, many string) string {
		if plural {
			return many
		}
		return one
	}
	switch r.code {
	case notReady:
		return verb("is", "are") + " not ready"
	case unavailable:
		return verb("is ", "are ") + r.detail
	case failsConstraint:
		return verb("fails ", "fail ") + r.detail
	case noVariant:
		return verb("lacks", "lack") + " a variant of " + r.detail
	case wrongCopy:
		return verb("holds ", "hold ") + r.detail
	case maxPerNode:
		return verb("has", "have") + " reached max_replicas_per_node (" + r.detail + ")"
	case portInUse:
		return verb("has", "have") + " port " + r.detail + " in use"
	case noCPU:
		return verb("has", "have") + " insufficient CPU"
	case noMemory:
		return verb("has", "have") + " insufficient memory"
	}
	return verb("fits", "fit")
}

// on words the reason for one named node: "node h1 is drained".
func (r reason) on(node string) string { return "node " + node + " " + r.phrase(false) }

// check says whether n can take a new replica of s now, or the first reason
// it cannot. New replicas need an active node; existing ones may stay on a
// paused node, which classify handles.
func (s *service) check(n *node) reason {
	if !n.ready() {
		return reason{code: notReady}
	}
	switch a := n.availability(); a {
	case cluster.Active:
	case cluster.Drain:
		return reason{code: unavailable, detail: "drained"}
	case cluster.Pause:
		return reason{code: unavailable, detail: "paused"}
	default:
		return reason{code: unavailable, detail: string(a)}
	}
	if c := s.failedConstraint(n.info); c != nil {
		return reason{code: failsConstraint, detail: c.text}
	}
	if !s.runsOn(n.info) {
		return s.noVariant(n.info)
	}
	return s.fit(n)
}

// fit checks what changes as replicas are placed: the per-node limit, host
// ports and reservations. A node that fails fit never fits again in the same
// run, since placing only adds to a node's load.
func (s *service) fit(n *node) reason {
	if max := s.maxPerNode(); max > 0 && s.count[n] >= max {
		return reason{code: maxPerNode, detail: strconv.Itoa(max)}
	}
	for _, p := range s.ports {
		if _, taken := n.ports[p]; taken {
			return reason{code: portInUse, detail: p}
		}
	}
	// A capacity of 0 means the node's facts are unknown: do not block on it.
	if s.cpu > 0 && n.cpuCap > 0 && n.cpu+s.cpu > n.cpuCap {
		return reason{code: noCPU}
	}
	if s.mem > 0 && n.memCap > 0 && n.memory+s.mem > n.memCap {
		return reason{code: noMemory}
	}
	return reason{}
}
