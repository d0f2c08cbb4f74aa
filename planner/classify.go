package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/drover-sh/drover/cluster"
)

// candidate is an observed container of an in-scope service.
type candidate struct {
	r         *cluster.Replica // a copy: the plan must not alias the input
	node      *node
	running   bool
	upToDate  bool
	completed bool   // exited 0 under a restart policy that leaves it so: a finished job
	leave     string // why it may not stay on its node; "" if it may
	onNode    int    // running containers of its service on its node (tie-break)
	slot      slotKey
}

// pending is a slot that needs a new container.
type pending struct {
	slot  string
	node  *node      // global services: the node the slot belongs to
	old   *candidate // the container it supersedes, if any
	why   string     // the reason given to the new container
	moved bool       // old is removed from its host; placement picks a new one
}

// tier ranks the containers claiming one slot; lower is better. See the
// package doc for the whole tie-break.
func (c *candidate) tier() int {
	stays := c.leave == ""
	switch {
	case c.running && c.upToDate && stays && c.r.Health != "unhealthy":
		return 0
	case c.running && c.upToDate && stays:
		return 1
	case c.completed && c.upToDate && stays:
		return 2
	case c.running && c.upToDate:
		return 3
	case c.running:
		return 4
	}
	return 5
}

func better(a, b *candidate) bool {
	if ta, tb := a.tier(), b.tier(); ta != tb {
		return ta < tb
	}
	if a.onNode != b.onNode {
		return a.onNode < b.onNode
	}
	if !a.r.Created.Equal(b.r.Created) {
		return a.r.Created.After(b.r.Created)
	}
	return a.r.ID < b.r.ID
}

// finishedOK reports whether docker leaves a container that exited 0 alone
// under this restart policy: such a container did its job and is kept.
// An empty policy is not included: drover's services are meant to run, as
// under Swarm's default restart policy.
func finishedOK(restart string) bool {
	return restart == "no" || strings.HasPrefix(restart, "on-failure")
}

// notRunning says why a container that is not running must be replaced.
func notRunning(r *cluster.Replica) string {
	switch r.State {
	case cluster.StateExited:
		return fmt.Sprintf("container exited (code %d)", r.ExitCode)
	case cluster.StateDead:
		return fmt.Sprintf("container is dead (code %d)", r.ExitCode)
	case cluster.StateCreated:
		return "container never started"
	case "":
		return "container is not running"
	}
	return "container is " + r.State
}

// leaveReason says why a container of s cannot stay on n: the node is
// drained or no longer meets a constraint. Paused nodes keep their replicas.
func (s *service) leaveReason(n *node) string {
	if n.availability() == cluster.Drain {
		return "node " + n.name + " is drained"
	}
	if c := s.failedConstraint(n.info); c != nil {
		return "node " + n.name + " fails " + c.text
	}
	return ""
}

// collect sorts every observed container into its service, accounts the
// out-of-scope ones, and removes in-scope containers whose service is gone.
func (w *world) collect() {
	// One allocation for all copies and candidates instead of one each.
	total := 0
	for _, n := range w.nodes {
		total += len(n.obs.Replicas)
	}
	copies := make([]cluster.Replica, 0, total)
	cands := make([]candidate, 0, total)
	for _, n := range w.nodes {
		if !n.ready() {
			if k := len(n.obs.Replicas); k > 0 {
				w.warnf("node %s is not ready; ignoring the %d containers observed on it", n.name, k)
			}
			continue
		}
		for i := range n.obs.Replicas {
			r := &n.obs.Replicas[i]
			s := w.svcByName[r.Service]
			stack := r.Stack
			if stack == "" && s != nil {
				stack = s.spec.Stack
			}
			if !w.in.inScope(stack) {
				w.occupyForeign(n, r, s)
				continue
			}
			copies = append(copies, *r)
			cp := &copies[len(copies)-1]
			cp.Host = n.name
			if s == nil {
				w.removed[r.Service] = append(w.removed[r.Service], Action{
					Kind: Remove, Service: r.Service, Stack: stack, Slot: r.Slot, Host: n.name,
					Old: cp, Generation: r.Generation, Reason: "service removed",
				})
				continue
			}
			cands = append(cands, candidate{r: cp, node: n, running: r.Running(), upToDate: r.SpecHash == s.hash})
			c := &cands[len(cands)-1]
			c.completed = r.State == cluster.StateExited && r.ExitCode == 0 && finishedOK(s.spec.Container.Restart)
			c.leave = s.leaveReason(n)
			s.candidates = append(s.candidates, c)
		}
	}
}

// occupyForeign accounts a container this run may not touch: it keeps its
// ports and, through its service's reservations, its share of the node.
func (w *world) occupyForeign(n *node, r *cluster.Replica, s *service) {
	if !r.Running() {
		return
	}
	ports := make([]string, 0, len(r.Ports))
	for _, p := range r.Ports {
		ports = append(ports, normalizePort(p))
	}
	var cpu, mem int64
	name := r.Service
	if s != nil {
		cpu, mem = s.cpu, s.mem
		if r.SpecHash == s.hash {
			ports = append(ports, s.ports...)
		}
	}
	n.occupy(name, ports, cpu, mem)
}

// classify decides, for every slot of an in-scope service, which observed
// container is kept, which are removed, and which slots need a new one.
func (w *world) classify(s *service) {
	// Count running containers per node first: the duplicate tie-break
	// prefers the container on the node with fewer of them.
	perNode := make(map[*node]int)
	for _, c := range s.candidates {
		if c.running {
			perNode[c.node]++
		}
	}
	cs := s.candidates[:0:0]
	for _, c := range s.candidates {
		c.onNode = perNode[c.node]
		if s.global && c.r.Slot != c.node.name {
			s.remove(c, w.misplacedReason(s, c))
			continue
		}
		c.slot = makeSlotKey(c.r.Slot, s.replicas(), s.global)
		cs = append(cs, c)
	}
	// One sort brings each slot's containers together, best first.
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].slot != cs[j].slot {
			return cs[i].slot.less(cs[j].slot)
		}
		return better(cs[i], cs[j])
	})

	filled := make([]bool, len(w.nodes)) // global: by node index
	if !s.global {
		filled = make([]bool, s.replicas()+1) // replicated: by slot number
	}
	for i := 0; i < len(cs); {
		best, slot := cs[i], cs[i].r.Slot
		j := i + 1
		for ; j < len(cs) && cs[j].slot == best.slot; j++ {
			s.remove(cs[j], "duplicate of slot "+slot)
		}
		i = j
		if why := w.unwantedSlot(s, slot, best); why != "" {
			s.remove(best, why)
			continue
		}
		if s.global {
			filled[best.node.idx] = true
		} else {
			filled[best.slot.num] = true
		}
		s.decide(slot, best, w.sickness(s, best))
	}

	// Empty slots, in slot order.
	if s.global {
		// Like a constraint, a platform the image lacks keeps a global
		// service off the node; only an image no eligible node runs
		// leaves its slots pending, so that the spec is refused.
		noneRuns := w.platformMismatch(s) != ""
		for _, n := range w.nodes {
			if !filled[n.idx] && n.ready() && n.availability() == cluster.Active && s.failedConstraint(n.info) == nil && (noneRuns || s.runsOn(n.info)) {
				s.pending = append(s.pending, &pending{slot: n.name, node: n, why: "new replica"})
			}
		}
	} else {
		for i := 1; i <= s.replicas(); i++ {
			if !filled[i] {
				s.pending = append(s.pending, &pending{slot: strconv.Itoa(i), why: "new replica"})
			}
		}
	}
	sortPending(s.pending, s.replicas(), s.global)
}

func sortPending(ps []*pending, replicas int, global bool) {
	sort.SliceStable(ps, func(i, j int) bool {
		return makeSlotKey(ps[i].slot, replicas, global).less(makeSlotKey(ps[j].slot, replicas, global))
	})
}

func (w *world) misplacedReason(s *service, c *candidate) string {
	if _, numeric := parseSlot(c.r.Slot); numeric {
		return "mode changed to global"
	}
	return fmt.Sprintf("slot %s does not match its host %s", c.r.Slot, c.node.name)
}

// unwantedSlot says why a slot has no place in the desired state: beyond
// the replica count, from the other mode, or (global) a node that no longer
// takes the service.
func (w *world) unwantedSlot(s *service, slot string, best *candidate) string {
	if s.global {
		return best.leave // drained, or a constraint no longer met
	}
	n, ok := parseSlot(slot)
	switch {
	case !ok && w.byName[slot] != nil:
		return "mode changed to replicated"
	case !ok:
		return fmt.Sprintf("invalid slot %q", slot)
	case n > s.replicas():
		return "scale down"
	}
	return ""
}

// decide handles the best container of a wanted slot.
func (s *service) decide(slot string, best *candidate, sick string) {
	if best.leave == "" && best.upToDate && (best.running || best.completed) && sick == "" {
		s.keeps = append(s.keeps, best)
		return
	}
	p := &pending{slot: slot, old: best}
	switch {
	case best.leave != "":
		p.why = best.leave
	case !best.running:
		p.why = notRunning(best.r)
	case sick != "":
		p.why = sick
	default:
		p.why = "spec changed"
	}
	if best.leave != "" {
		// Only replicated slots get here (a global slot on a node it must
		// leave is unwanted): the slot moves to another node.
		s.remove(best, best.leave)
		p.moved = true
	}
	if s.global {
		p.node = best.node
	}
	s.pending = append(s.pending, p)
}

// enforceMaxPerNode moves kept replicas off nodes that hold more than
// max_replicas_per_node of them (the limit was lowered), highest slots first.
func (s *service) enforceMaxPerNode() {
	max := s.maxPerNode()
	if max <= 0 || s.global {
		return
	}
	sort.Slice(s.keeps, func(i, j int) bool { return s.keeps[i].slot.less(s.keeps[j].slot) })
	seen := make(map[*node]int)
	kept := s.keeps[:0]
	for _, c := range s.keeps {
		if !c.running {
			kept = append(kept, c)
			continue
		}
		seen[c.node]++
		if seen[c.node] <= max {
			kept = append(kept, c)
			continue
		}
		why := fmt.Sprintf("node %s has more than max_replicas_per_node (%d)", c.node.name, max)
		s.remove(c, why)
		s.pending = append(s.pending, &pending{slot: c.r.Slot, old: c, why: why, moved: true})
	}
	s.keeps = kept
	sortPending(s.pending, s.replicas(), false)
}

// occupyKept accounts the containers that stay, before anything is placed,
// so that new replicas work around them.
func (s *service) occupyKept() {
	for _, c := range s.keeps {
		reason := "up to date"
		if !c.running {
			reason = "completed (exit 0)"
		}
		s.actions = append(s.actions, s.keepAction(c, reason))
		if c.running {
			s.occupyOld(c, s.ports)
		}
	}
}

// occupyOld accounts a running container that stays: the ports docker
// reports it binds (plus those its spec publishes, when it is up to date, in
// case the observation missed them) and its service's reservations.
func (s *service) occupyOld(c *candidate, specPorts []string) {
	ports := make([]string, 0, len(c.r.Ports)+len(specPorts))
	for _, p := range c.r.Ports {
		ports = append(ports, normalizePort(p))
	}
	ports = append(ports, specPorts...)
	c.node.occupy(s.name, ports, s.cpu, s.mem)
	s.count[c.node]++
}

// sickness says why a running, up-to-date replica must still be replaced:
// it has been unhealthy for longer than Input.UnhealthyGrace, or it drifted
// from its spec and Input.FixDrift asks to mend that. Drift without
// FixDrift is only reported.
func (w *world) sickness(s *service, c *candidate) string {
	if !c.running || !c.upToDate || c.leave != "" {
		return ""
	}
	r := c.r
	if g := w.in.UnhealthyGrace; g > 0 && r.Health == "unhealthy" && !r.UnhealthySince.IsZero() {
		if d := w.in.Now.Sub(r.UnhealthySince); d >= g {
			return fmt.Sprintf("unhealthy for %s", d.Round(time.Second))
		}
	}
	if len(r.Drift) > 0 {
		if w.in.FixDrift {
			return "drifted: " + strings.Join(r.Drift, ", ")
		}
		w.warnf("%s on %s drifted from its spec (%s): `drover reconcile --fix-drift` replaces it", r.Name, r.Host, strings.Join(r.Drift, ", "))
	}
	return ""
}
