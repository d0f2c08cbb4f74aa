package planner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// dependencyOrder sorts the in-scope services so that each comes after the
// services it depends on, and by name otherwise (Kahn's algorithm with the
// ready set in a name-ordered heap), and gives each its dependency level:
// one more than the deepest service it depends on. depends_on names a
// service of the same stack; a full STACK_SERVICE name is accepted too.
// Dependencies outside the scope impose no order: this run does not create
// them. This is the one place that reads depends_on: apply rolls out by
// the plan's levels.
func (w *world) dependencyOrder() ([]*service, error) {
	var in []*service
	index := make(map[*service]int)
	for _, s := range w.services {
		if s.inScope {
			index[s] = len(in)
			in = append(in, s)
		}
	}
	waiting := make([]int, len(in)) // unmet dependencies per service
	dependents := make([][]int, len(in))
	for i, s := range in {
		seen := make(map[int]bool)
		for _, dep := range s.spec.DependsOn {
			d := w.dependency(s, dep)
			if d == nil {
				w.warnf("service %s depends on unknown service %s", s.name, dep)
				continue
			}
			j, ok := index[d]
			if !ok || seen[j] {
				continue
			}
			seen[j] = true
			waiting[i]++
			dependents[j] = append(dependents[j], i)
		}
	}
	ready := newHeap(nil, func(a, b int) bool { return a < b }) // indices follow name order
	for i := range in {
		if waiting[i] == 0 {
			ready.push(i)
		}
	}
	order := make([]*service, 0, len(in))
	for ready.len() > 0 {
		i := ready.pop()
		order = append(order, in[i])
		for _, j := range dependents[i] {
			// in[i] is placed before each of its dependents.
			in[j].level = max(in[j].level, in[i].level+1)
			if waiting[j]--; waiting[j] == 0 {
				ready.push(j)
			}
		}
	}
	if len(order) < len(in) {
		var cycle []string
		for i, s := range in {
			if waiting[i] > 0 {
				cycle = append(cycle, s.name)
			}
		}
		return nil, fmt.Errorf("depends_on cycle among services %s", strings.Join(cycle, ", "))
	}
	return order, nil
}

// dependency resolves a depends_on entry of s: a service of its stack, or
// a full STACK_SERVICE name; nil when there is none.
func (w *world) dependency(s *service, dep string) *service {
	if d := w.svcByName[s.spec.Stack+"_"+dep]; d != nil {
		return d
	}
	return w.svcByName[dep]
}

// levels lists the in-scope services by dependency level: those of one
// level depend on none of each other and each on some of the level before.
func levels(order []*service) [][]string {
	var out [][]string
	for _, s := range order {
		for len(out) <= s.level {
			out = append(out, nil)
		}
		out[s.level] = append(out[s.level], s.name)
	}
	return out
}

// slotKey orders one service's actions: the slots it keeps in ascending
// order, then scale-down removals from the highest slot down (so an
// interrupted apply leaves slots 1..N), then slots that are not numbers.
type slotKey struct {
	group int
	num   int
	str   string
}

func makeSlotKey(slot string, replicas int, global bool) slotKey {
	if global {
		return slotKey{group: 0, str: slot}
	}
	n, ok := parseSlot(slot)
	switch {
	case !ok:
		return slotKey{group: 2, str: slot}
	case n <= replicas:
		return slotKey{group: 0, num: n}
	default:
		return slotKey{group: 1, num: -n}
	}
}

func (a slotKey) less(b slotKey) bool {
	if a.group != b.group {
		return a.group < b.group
	}
	if a.num != b.num {
		return a.num < b.num
	}
	return a.str < b.str
}

// parseSlot accepts the canonical spelling of a replica number only, so that
// "01" and "1" can never both claim slot 1.
func parseSlot(slot string) (int, bool) {
	n, err := strconv.Atoi(slot)
	if err != nil || n < 1 || strconv.Itoa(n) != slot {
		return 0, false
	}
	return n, true
}

var kindRank = map[Kind]int{Remove: 0, Replace: 1, Create: 2, Keep: 3}

// sortActions orders one service's actions by slot, then removes first so
// that a moving slot frees its old host before the new container starts.
func sortActions(actions []Action, replicas int, global bool) {
	by := actionOrder{actions: actions, keys: make([]slotKey, len(actions))}
	for i := range actions {
		by.keys[i] = makeSlotKey(actions[i].Slot, replicas, global)
	}
	sort.Sort(by)
}

// actionOrder sorts actions along with their precomputed slot keys.
type actionOrder struct {
	actions []Action
	keys    []slotKey
}

func (o actionOrder) Len() int { return len(o.actions) }

func (o actionOrder) Swap(i, j int) {
	o.actions[i], o.actions[j] = o.actions[j], o.actions[i]
	o.keys[i], o.keys[j] = o.keys[j], o.keys[i]
}

func (o actionOrder) Less(i, j int) bool {
	if o.keys[i] != o.keys[j] {
		return o.keys[i].less(o.keys[j])
	}
	a, b := &o.actions[i], &o.actions[j]
	if kindRank[a.Kind] != kindRank[b.Kind] {
		return kindRank[a.Kind] < kindRank[b.Kind]
	}
	if a.Host != b.Host {
		return a.Host < b.Host
	}
	return oldID(a) < oldID(b)
}

func oldID(a *Action) string {
	if a.Old == nil {
		return ""
	}
	return a.Old.ID
}
