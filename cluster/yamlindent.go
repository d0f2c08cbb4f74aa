package cluster

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Misindented finds the first line of a YAML block document whose
// indentation cannot be right: deeper than the line above although that
// line's key already has a value, or shallower than its block but lining up
// with no enclosing one. YAML parsers report such a line where they notice
// the damage, often lines earlier ("did not find expected '-' indicator" at
// the start of the list); this points at the line to fix. It is a heuristic
// for a document that already failed to parse: ok is false when it finds
// nothing, and flow collections and block scalars are skipped.
func Misindented(data []byte) (line, col int, msg string, ok bool) {
	levels := []int{0} // indents of the enclosing blocks
	opens := true      // the line above opened a block (key:, - , or the start)
	scalarIndent := -1 // inside a block scalar (| or >) indented deeper than this
	depth := 0         // open flow brackets
	prevKey := ""      // for messages
	for i, raw := range strings.Split(string(data), "\n") {
		text := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(text, " ")
		indent := len(text) - len(trimmed)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if scalarIndent >= 0 {
			if indent > scalarIndent {
				continue
			}
			scalarIndent = -1
		}
		if trimmed == "---" || strings.HasPrefix(trimmed, "--- ") || trimmed == "..." {
			levels, opens, depth = []int{0}, true, 0
			continue
		}
		if depth > 0 {
			depth += flowDepth(trimmed)
			continue
		}
		key := keyOf(trimmed)
		top := levels[len(levels)-1]
		switch {
		case indent > top && !opens:
			return i + 1, indent + 1, fmt.Sprintf("%q is indented deeper than %q above it, which already has a value: misindented?", key, prevKey), true
		case indent > top:
			levels = append(levels, indent)
		case indent < top:
			for len(levels) > 1 && levels[len(levels)-1] > indent {
				levels = levels[:len(levels)-1]
			}
			if levels[len(levels)-1] != indent {
				return i + 1, indent + 1, fmt.Sprintf("%q is indented to column %d, which lines up with no enclosing key: misindented?", key, indent+1), true
			}
		}
		// A list item's content is a block of its own, at the column after "- ".
		body := trimmed
		for strings.HasPrefix(body, "- ") || body == "-" {
			indent += 2
			body = strings.TrimLeft(strings.TrimPrefix(body, "-"), " ")
			if levels[len(levels)-1] < indent {
				levels = append(levels, indent)
			}
		}
		opens = body == "" || strings.HasSuffix(body, ":")
		if v := valueOf(body); strings.HasPrefix(v, "|") || strings.HasPrefix(v, ">") {
			scalarIndent = len(text) - len(trimmed) // the block scalar's lines are deeper
		}
		depth = flowDepth(body)
		if depth < 0 {
			depth = 0
		}
		prevKey = keyOf(body)
	}
	return 0, 0, "", false
}

// keyOf is the mapping key a line starts with, or the line.
func keyOf(s string) string {
	s = strings.TrimLeft(strings.TrimPrefix(s, "- "), " ")
	if k, _, ok := strings.Cut(s, ":"); ok {
		return strings.TrimSpace(k)
	}
	return s
}

// valueOf is what follows "key:" on a line, trimmed.
func valueOf(s string) string {
	if _, v, ok := strings.Cut(s, ": "); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

// flowDepth counts the flow brackets a line leaves open, ignoring quoted
// text and comments.
func flowDepth(s string) int {
	d := 0
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || s[i-1] == ' '):
			return d
		case r == '{' || r == '[':
			d++
		case r == '}' || r == ']':
			d--
		}
	}
	return d
}

// yamlSyntaxError places a YAML parse error: at the misindented line when
// there is one (with the parser's words after it), else where the parser
// says.
func yamlSyntaxError(file string, data []byte, err error) *InventoryError {
	said := strings.TrimPrefix(err.Error(), "yaml: ")
	if line, col, msg, ok := Misindented(data); ok {
		return &InventoryError{File: file, Line: line, Col: col, Msg: msg + " (the YAML parser says: " + said + ")"}
	}
	e := &InventoryError{File: file, Msg: said}
	if m := yamlLineRE.FindStringSubmatch(said); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Col = 1
		if m[2] != "" {
			e.Col, _ = strconv.Atoi(m[2])
		}
		e.Msg = said[len(m[0]):]
	}
	return e
}

var yamlLineRE = regexp.MustCompile(`^line (\d+)(?:, column (\d+))?: `)
