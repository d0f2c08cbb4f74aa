package planner

import (
	"reflect"
	"sort"
	"strings"

	"github.com/drover-sh/drover/cluster"
)

// describeChanges lists what differs between two container specs, for the
// plan's reader. Values are shown only for the image and the restart policy:
// env vars, labels, commands and the rest may carry secrets, so they are
// named, never quoted. Fields without a dedicated rule are reported by their
// JSON name, so a field added to ContainerSpec is described without a change
// here.
func describeChanges(old, cur *cluster.ContainerSpec) []string {
	var out []string
	if old.Image != cur.Image {
		out = append(out, "image "+old.Image+" → "+cur.Image)
	}
	out = append(out, mapChanges("env", old.Env, cur.Env)...)
	out = append(out, mapChanges("label", old.Labels, cur.Labels)...)
	if old.Restart != cur.Restart {
		out = append(out, "restart "+orNone(old.Restart)+" → "+orNone(cur.Restart))
	}
	out = append(out, cluster.DescribeFileChanges(old.Files, cur.Files)...)

	ov, cv := reflect.ValueOf(old).Elem(), reflect.ValueOf(cur).Elem()
	t := ov.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "Image", "Env", "Labels", "Restart", "Files":
			continue
		}
		a, b := ov.Field(i), cv.Field(i)
		if omitempty(t.Field(i)) && empty(a) && empty(b) {
			continue
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			out = append(out, jsonName(t.Field(i))+" changed")
		}
	}
	if len(out) == 0 {
		// Same fields, different hash: a change the comparison cannot see
		// (e.g. a spec stored by another drover version).
		out = []string{"spec changed"}
	}
	return out
}

// mapChanges names the keys added, removed or changed, in key order.
func mapChanges(what string, old, cur map[string]string) []string {
	keys := make([]string, 0, len(old)+len(cur))
	for k := range old {
		keys = append(keys, k)
	}
	for k := range cur {
		if _, ok := old[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		ov, inOld := old[k]
		cv, inCur := cur[k]
		switch {
		case !inOld:
			out = append(out, what+" "+k+" added")
		case !inCur:
			out = append(out, what+" "+k+" removed")
		case ov != cv:
			out = append(out, what+" "+k+" changed")
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(default)"
	}
	return s
}

// omitempty reports whether the field's JSON tag drops empty values: then
// nil and empty slices and maps hash the same and must not be reported.
// Without it (e.g. a command where nil means the image's and [] means none)
// they differ.
func omitempty(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
	return strings.Contains(","+opts+",", ",omitempty,")
}

func empty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" || name == "-" {
		return strings.ToLower(f.Name)
	}
	return name
}

// changesFrom describes what a new container of s changes compared with
// the old one: against the old container's spec when the state file still
// has it, else just "spec changed"; nothing when it was up to date.
func (s *service) changesFrom(old *candidate, specs map[string]cluster.ContainerSpec) []string {
	if old == nil || old.upToDate {
		return nil
	}
	if spec, ok := specs[old.r.SpecHash]; ok {
		return describeChanges(&spec, &s.spec.Container)
	}
	return []string{"spec changed"}
}
