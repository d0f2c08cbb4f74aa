package planner

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Render writes the plan for people, grouped by host: networks and volumes
// first (they are created first), then the container actions in plan order.
// Kept containers are only counted.
//
//	h1:
//	  + network demo_default
//	  + create  demo_web.3   gen 2  (new replica)
//	  ~ replace demo_api.1   gen 3  (image app:v1 → app:v2)
//	  - remove  demo_old.1          (service removed)
//
// then the order of the dependency levels (when there are several) and
// the rolling updates (renderOrder, renderRollouts), the pending replicas,
// the summary and the warnings.
func (p *Plan) Render(w io.Writer) error {
	type line struct{ sign, kind, name, gen, note string }
	byHost := make(map[string][]line)
	for _, r := range p.Networks {
		byHost[r.Host] = append(byHost[r.Host], line{sign: "+", kind: "network", name: r.Name})
	}
	for _, r := range p.Volumes {
		byHost[r.Host] = append(byHost[r.Host], line{sign: "+", kind: "volume", name: r.Name})
	}
	counts := make(map[Kind]int)
	for i := range p.Actions {
		a := &p.Actions[i]
		counts[a.Kind]++
		if a.Kind == Keep {
			continue
		}
		l := line{kind: string(a.Kind), name: a.Service + "." + a.Slot, note: a.Reason}
		switch a.Kind {
		case Create:
			l.sign = "+"
		case Replace:
			l.sign = "~"
		default:
			l.sign = "-"
		}
		if a.Kind != Remove {
			l.gen = fmt.Sprintf("gen %d", a.Generation)
		}
		if len(a.Changes) > 0 {
			l.note = strings.Join(a.Changes, ", ")
			if a.Kind == Create {
				l.note = "moved from " + a.From + "; " + l.note
			}
		}
		byHost[a.Host] = append(byHost[a.Host], l)
	}

	hosts := make([]string, 0, len(byHost))
	nameW, genW := 0, 0
	for h, ls := range byHost {
		hosts = append(hosts, h)
		for _, l := range ls {
			if l.note != "" {
				nameW = max(nameW, len(l.name))
			}
			genW = max(genW, len(l.gen))
		}
	}
	sort.Strings(hosts)

	var b bytes.Buffer
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s:\n", h)
		for _, l := range byHost[h] {
			if l.note == "" {
				fmt.Fprintf(&b, "  %s %-7s %s\n", l.sign, l.kind, l.name)
				continue
			}
			fmt.Fprintf(&b, "  %s %-7s %-*s  %-*s  (%s)\n", l.sign, l.kind, nameW, l.name, genW, l.gen, l.note)
		}
	}
	sections := len(hosts) > 0
	for _, section := range []func(*bytes.Buffer) bool{p.renderOrder, p.renderRollouts} {
		var sb bytes.Buffer
		if section(&sb) {
			if sections {
				b.WriteString("\n")
			}
			b.Write(sb.Bytes())
			sections = true
		}
	}
	if len(p.Pending) > 0 {
		if sections {
			b.WriteString("\n")
		}
		b.WriteString("pending (no node can take them now; every run tries again):\n")
		for i := range p.Pending {
			pd := &p.Pending[i]
			names := make([]string, len(pd.Slots))
			for j, slot := range pd.Slots {
				names[j] = pd.Service + "." + slot
			}
			note := pd.Reason
			if pd.Unsatisfiable {
				note = "no node could ever run it: " + note
			}
			fmt.Fprintf(&b, "  ! %s  (%s)\n", strings.Join(names, ", "), note)
		}
	}
	if sections || len(p.Pending) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(p.summary(counts))
	for _, warn := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warn)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func (p *Plan) summary(counts map[Kind]int) string {
	kept := plural(counts[Keep], "replica", "replicas") + " unchanged"
	if n := p.PendingReplicas(); n > 0 {
		kept += ", " + plural(n, "replica", "replicas") + " pending"
	}
	if p.Empty() {
		return "No changes; " + kept + ".\n"
	}
	var parts []string
	for _, k := range []Kind{Create, Replace, Remove} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d to %s", counts[k], k))
		}
	}
	if n := len(p.Networks); n > 0 {
		parts = append(parts, plural(n, "network", "networks"))
	}
	if n := len(p.Volumes); n > 0 {
		parts = append(parts, plural(n, "volume", "volumes"))
	}
	return "Plan: " + strings.Join(parts, ", ") + "; " + kept + ".\n"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// String is Render into a string.
func (p *Plan) String() string {
	var b strings.Builder
	_ = p.Render(&b)
	return b.String()
}
