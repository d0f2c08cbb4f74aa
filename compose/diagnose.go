package compose

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/drover-sh/drover/cluster"
	"go.yaml.in/yaml/v4"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Problem is one mistake in a compose file, at its place.
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.Line > 0 && p.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Column, p.Message)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Message)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Message)
}

// ProblemsError is every problem found in the compose files of one load,
// one per line, in file order: a user fixes them all in one go rather than
// one per run.
type ProblemsError struct {
	Problems []Problem
	err      error // what compose-go said, for errors.Unwrap
}

func (e *ProblemsError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return fmt.Sprintf("%d problems in the compose files:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

func (e *ProblemsError) Unwrap() error { return e.err }

// sourceFile is one compose file as text, for diagnosis.
type sourceFile struct {
	name    string
	content []byte
}

// diagnose checks each file on its own against the compose specification's
// schema and reports every problem with its line and column. compose-go
// stops at the first problem of the merged files and names no line; this is
// run when it failed, to say everything at once.
func diagnose(files []sourceFile) []Problem {
	var out []Problem
	for _, f := range files {
		out = append(out, diagnoseFile(f)...)
	}
	return out
}

var yamlLineRE = regexp.MustCompile(`line (\d+)(?:, column (\d+))?`)

func diagnoseFile(f sourceFile) []Problem {
	var root yaml.Node
	if err := yaml.Unmarshal(f.content, &root); err != nil {
		said := strings.TrimPrefix(err.Error(), "yaml: ")
		if line, col, msg, ok := cluster.Misindented(f.content); ok {
			return []Problem{{File: f.name, Line: line, Column: col, Message: "invalid YAML: " + msg + " (the YAML parser says: " + said + ")"}}
		}
		p := Problem{File: f.name, Message: "invalid YAML: " + said}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Column, _ = strconv.Atoi(m[2])
		}
		return []Problem{p}
	}
	if len(root.Content) == 0 {
		return nil
	}
	doc := root.Content[0]
	var raw any
	if err := doc.Decode(&raw); err != nil {
		return []Problem{{File: f.name, Line: doc.Line, Column: doc.Column, Message: err.Error()}}
	}
	// The validator takes JSON values only (no yaml-specific types).
	b, err := json.Marshal(jsonable(raw))
	if err != nil {
		return []Problem{{File: f.name, Message: err.Error()}}
	}
	var inst any
	if err := json.Unmarshal(b, &inst); err != nil {
		return []Problem{{File: f.name, Message: err.Error()}}
	}
	sch, err := compiledSchema()
	if err != nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(sch.Validate(inst), &verr) {
		return nil
	}
	var out []Problem
	seen := map[string]bool{}
	for _, leaf := range leaves(verr) {
		for _, p := range problemsOf(f.name, doc, leaf) {
			if k := p.String(); !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Column < out[j].Column
	})
	return out
}

// jsonable turns what yaml decodes into values encoding/json takes:
// map[string]any all the way down.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = jsonable(x)
		}
		return m
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = jsonable(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = jsonable(x)
		}
		return s
	}
	return v
}

// leaves picks the errors worth telling from a validation error tree: all
// branches of the document's structure, but of alternatives (oneOf, anyOf:
// "a string or a mapping") only the one that went deepest, as compose-go
// does, since the others merely say the value is not of their kind.
func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	switch e.ErrorKind.(type) {
	case *kind.OneOf, *kind.AnyOf:
		var best *jsonschema.ValidationError
		for _, c := range e.Causes {
			if best == nil || depth(c) > depth(best) {
				best = c
			}
		}
		return leaves(best)
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// depth is how far into the document an error tree reaches; an unknown
// key counts one deeper than its mapping.
func depth(e *jsonschema.ValidationError) int {
	d := len(e.InstanceLocation)
	if _, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
		d++
	}
	for _, c := range e.Causes {
		d = max(d, depth(c))
	}
	return d
}

// problemsOf words one validation error, placed on its node.
func problemsOf(file string, doc *yaml.Node, e *jsonschema.ValidationError) []Problem {
	path := e.InstanceLocation
	node := lookup(doc, path)
	where := strings.Join(path, ".")
	if where == "" {
		where = "top level"
	}
	at := func(n *yaml.Node, msg string) Problem {
		p := Problem{File: file, Message: msg}
		if n != nil {
			p.Line, p.Column = n.Line, n.Column
		}
		return p
	}
	unknown := func(parent []string, m *yaml.Node, schemaURL, prop string) Problem {
		where := strings.Join(parent, ".")
		if where == "" {
			where = "top level"
		}
		msg := fmt.Sprintf("%s: unknown key %q", where, prop)
		if s := cluster.Closest(prop, schemaProperties(schemaURL)); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else {
			msg += " (misspelt, or not in the compose specification)"
		}
		return at(keyNode(m, prop), msg)
	}
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []Problem
		for _, prop := range k.Properties {
			out = append(out, unknown(path, node, e.SchemaURL, prop))
		}
		return out
	case *kind.FalseSchema:
		// additionalProperties or unevaluatedProperties: false next to
		// patternProperties (x- keys) fails the key itself against the
		// false schema.
		for _, suffix := range []string{"/additionalProperties", "/unevaluatedProperties"} {
			if parentURL, ok := strings.CutSuffix(e.SchemaURL, suffix); ok && len(path) > 0 {
				parent, key := path[:len(path)-1], path[len(path)-1]
				// unevaluatedProperties also fails a known key whose value
				// failed its own schema; that failure is told on its own.
				if slices.Contains(schemaProperties(parentURL), key) {
					return nil
				}
				return []Problem{unknown(parent, lookup(doc, parent), parentURL, key)}
			}
		}
	case *kind.Type:
		return []Problem{at(node, fmt.Sprintf("%s must be %s, not %s", where, article(humanTypes(k.Want)), humanType(k.Got)))}
	case *kind.Enum:
		msg := fmt.Sprintf("%s: %s", where, k.LocalizedString(message.NewPrinter(language.English)))
		if node != nil && node.Kind == yaml.ScalarNode {
			var opts []string
			for _, w := range k.Want {
				opts = append(opts, fmt.Sprint(w))
			}
			if s := cluster.Closest(node.Value, opts); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
		}
		return []Problem{at(node, msg)}
	}
	return []Problem{at(node, fmt.Sprintf("%s: %s", where, e.ErrorKind.LocalizedString(message.NewPrinter(language.English))))}
}

// lookup follows a document path (mapping keys, sequence indexes) in the
// YAML tree; nil when it leads nowhere.
func lookup(n *yaml.Node, path []string) *yaml.Node {
	for _, seg := range path {
		n = resolve(n)
		if n == nil {
			return nil
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					next = n.Content[i+1]
				}
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		default:
			return nil
		}
	}
	return resolve(n)
}

// resolve follows an alias (*anchor) to its node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// keyNode is the key node of prop in a mapping, or the mapping itself.
func keyNode(m *yaml.Node, prop string) *yaml.Node {
	if m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == prop {
				return m.Content[i]
			}
		}
	}
	return m
}

func humanTypes(want []string) string {
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = humanType(w)
	}
	sort.Strings(names)
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func humanType(t string) string {
	switch t {
	case "object":
		return "mapping"
	case "array":
		return "list"
	case "null":
		return "empty"
	}
	return t
}

func article(s string) string {
	switch {
	case s == "empty":
		return s
	case strings.HasPrefix(s, "a"), strings.HasPrefix(s, "i"):
		return "an " + s
	}
	return "a " + s
}

var (
	schemaOnce sync.Once
	schemaDoc  map[string]any
	schemaC    *jsonschema.Schema
	schemaErr  error
)

// compiledSchema is compose-go's copy of the compose specification's
// schema, compiled once.
func compiledSchema() (*jsonschema.Schema, error) {
	schemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema.Schema))
		if err != nil {
			schemaErr = err
			return
		}
		schemaDoc, _ = doc.(map[string]any)
		c := jsonschema.NewCompiler()
		if err := c.AddResource("compose-spec.json", doc); err != nil {
			schemaErr = err
			return
		}
		// Durations are checked by compose-go with their own messages.
		c.RegisterFormat(&jsonschema.Format{Name: "duration", Validate: func(any) error { return nil }})
		schemaC, schemaErr = c.Compile("compose-spec.json")
	})
	return schemaC, schemaErr
}

// schemaProperties lists the keys the schema at url ("compose-spec.json#
// /$defs/service") allows, for did-you-mean: its properties and those of
// the schemas it combines (allOf, $ref).
func schemaProperties(url string) []string {
	_, frag, _ := strings.Cut(url, "#")
	set := map[string]bool{}
	collectProperties(pointer(frag), set, 0)
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pointer resolves a JSON pointer ("/$defs/service") in the schema.
func pointer(frag string) any {
	var cur any = schemaDoc
	for _, seg := range strings.Split(strings.Trim(frag, "/"), "/") {
		if seg == "" {
			continue
		}
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[seg]
	}
	return cur
}

func collectProperties(node any, set map[string]bool, depth int) {
	m, ok := node.(map[string]any)
	if !ok || depth > 8 {
		return
	}
	props, _ := m["properties"].(map[string]any)
	for k := range props {
		set[k] = true
	}
	if ref, ok := m["$ref"].(string); ok && strings.HasPrefix(ref, "#") {
		collectProperties(pointer(strings.TrimPrefix(ref, "#")), set, depth+1)
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		subs, _ := m[key].([]any)
		for _, sub := range subs {
			collectProperties(sub, set, depth+1)
		}
	}
}

// keyPathRE is the compose key a converter error begins with
// ("deploy.update_config.failure_action: …", "ports: …").
var keyPathRE = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)*)[: ]`)

// placeErr words an error of one service's conversion as a Problem at the
// key it names, in the last file that sets it (the one that wins a merge).
func (c *converter) placeErr(service string, err error) Problem {
	msg := err.Error()
	key := ""
	if m := keyPathRE.FindStringSubmatch(msg); m != nil {
		key = m[1]
	}
	return c.place(service, key, "service "+service+": "+msg)
}

// place puts msg at services.SERVICE.KEY (or at the service when the key
// is not found) in the last file that has it.
func (c *converter) place(service, key, msg string) Problem {
	path := []string{"services", service}
	if key != "" {
		path = append(path, strings.Split(key, ".")...)
	}
	for len(path) >= 2 {
		for i := len(c.sources) - 1; i >= 0; i-- {
			var root yaml.Node
			if yaml.Unmarshal(c.sources[i].content, &root) != nil || len(root.Content) == 0 {
				continue
			}
			if n := lookup(root.Content[0], path); n != nil {
				return Problem{File: c.sources[i].name, Line: n.Line, Column: n.Column, Message: msg}
			}
		}
		path = path[:len(path)-1]
	}
	file := ""
	if len(c.sources) > 0 {
		file = c.sources[0].name
	}
	return Problem{File: file, Message: msg}
}

// didYouMean is ` (did you mean "X"?)` when value is a likely typo of one
// of the options, "" otherwise.
func didYouMean(value string, options ...string) string {
	if s := cluster.Closest(value, options); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// sortProblems orders problems as the files are given, then by line.
func (c *converter) sortProblems(ps []Problem) {
	order := map[string]int{}
	for i, f := range c.sources {
		order[f.name] = i
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if order[a.File] != order[b.File] {
			return order[a.File] < order[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
