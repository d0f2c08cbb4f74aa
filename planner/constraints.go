package planner

import (
	"errors"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// attrKind is a node attribute that constraints and spread preferences read.
type attrKind int

const (
	attrHostname attrKind = iota // node.hostname, node.id (drover's node id is its name)
	attrRole                     // node.role
	attrOS                       // node.platform.os
	attrArch                     // node.platform.arch
	attrLabel                    // node.labels.X
)

// attribute is a parsed "node.…" path.
type attribute struct {
	kind  attrKind
	label string // attrLabel only
	path  string // as written, for messages
}

const labelPrefix = "node.labels."

// parseAttribute accepts Swarm's node attribute paths. The fixed part is
// case-insensitive as in Swarm; label names are kept as written because
// docker labels are case-sensitive.
func parseAttribute(path string) (attribute, error) {
	path = strings.TrimSpace(path)
	lower := strings.ToLower(path)
	switch lower {
	case "node.hostname", "node.id":
		return attribute{kind: attrHostname, path: path}, nil
	case "node.role":
		return attribute{kind: attrRole, path: path}, nil
	case "node.platform.os":
		return attribute{kind: attrOS, path: path}, nil
	case "node.platform.arch":
		return attribute{kind: attrArch, path: path}, nil
	}
	if strings.HasPrefix(lower, labelPrefix) {
		label := strings.TrimSpace(path[len(labelPrefix):])
		if label == "" {
			return attribute{}, errors.New("empty label name")
		}
		return attribute{kind: attrLabel, label: label, path: path}, nil
	}
	return attribute{}, fmt.Errorf("unknown attribute %q (want node.hostname, node.id, node.role, node.platform.os, node.platform.arch or node.labels.NAME)", path)
}

// value returns the node's value of the attribute, and false when the node
// does not have it (a missing label, unknown facts).
func (a attribute) value(n *cluster.Node) (string, bool) {
	switch a.kind {
	case attrHostname:
		return n.Name, true
	case attrRole:
		return string(n.Role), n.Role != ""
	case attrOS:
		return n.OS, n.OS != ""
	case attrArch:
		return n.Arch, n.Arch != ""
	default:
		v, ok := n.Labels[a.label]
		return v, ok
	}
}

// constraint is one parsed placement constraint.
type constraint struct {
	attr  attribute
	neq   bool
	value string
	text  string // normalised "path op value", for reasons and errors
}

// parseConstraint parses "ATTR == VALUE" or "ATTR != VALUE", tolerating any
// whitespace around the parts.
func parseConstraint(expr string) (constraint, error) {
	eq, ne := strings.Count(expr, "=="), strings.Count(expr, "!=")
	if eq+ne != 1 {
		return constraint{}, errors.New("want exactly one == or != operator")
	}
	op := "=="
	if ne == 1 {
		op = "!="
	}
	i := strings.Index(expr, op)
	attr, err := parseAttribute(expr[:i])
	if err != nil {
		return constraint{}, err
	}
	value := strings.TrimSpace(expr[i+2:])
	if value == "" {
		return constraint{}, errors.New("empty value")
	}
	return constraint{attr: attr, neq: op == "!=", value: value, text: attr.path + " " + op + " " + value}, nil
}

// match reports whether the node satisfies the constraint. Values compare
// case-insensitively, as in Swarm; a missing attribute fails == and passes !=.
func (c *constraint) match(n *cluster.Node) bool {
	v, ok := c.attr.value(n)
	equal := ok && equalValue(c.attr.kind, v, c.value)
	return equal != c.neq
}

func equalValue(kind attrKind, a, b string) bool {
	if kind == attrArch {
		return normalizeArch(a) == normalizeArch(b)
	}
	return strings.EqualFold(a, b)
}

// normalizeArch maps the kernel's architecture names (which Swarm reports as
// node.platform.arch) to Go's (which drover's facts use), so either spelling
// works in a constraint.
func normalizeArch(s string) string {
	switch s = strings.ToLower(s); s {
	case "x86_64", "x86-64", "x64":
		return "amd64"
	case "aarch64", "arm64v8":
		return "arm64"
	case "armhf", "armv7l", "armv7", "armv6l":
		return "arm"
	case "i386", "i686", "x86":
		return "386"
	}
	return s
}

// parsePlacement parses a service's constraints and spread preferences; the
// error names the service and the expression.
func parsePlacement(name string, p *cluster.Placement) ([]constraint, []attribute, error) {
	var errs []error
	cs := make([]constraint, 0, len(p.Constraints))
	for _, expr := range p.Constraints {
		c, err := parseConstraint(expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: malformed placement constraint %q: %w", name, expr, err))
			continue
		}
		cs = append(cs, c)
	}
	spread := make([]attribute, 0, len(p.Spread))
	for _, path := range p.Spread {
		a, err := parseAttribute(strings.TrimPrefix(strings.TrimSpace(path), "spread="))
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: malformed spread preference %q: %w", name, path, err))
			continue
		}
		spread = append(spread, a)
	}
	return cs, spread, errors.Join(errs...)
}
