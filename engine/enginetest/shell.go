package enginetest

import (
	"errors"
	"fmt"
	"strings"
)

// Command is one simple command of a command line, with the operator that
// joins it to the previous one ("" for the first; "&&", "||" or ";").
type Command struct {
	Op   string
	Args []string
}

// Split parses a command line the way a POSIX shell would, for the subset
// of syntax drover produces: words quoted by ssh.Quote (bare safe words,
// '...' single-quoted words, \' escapes between them), simple "..." words
// without expansions, and the list operators &&, || and ;. Anything else a
// shell would interpret (pipes, redirections, $expansions, globs, ...)
// is an error: the fake refuses to guess what a real shell would do with it.
func Split(line string) ([]Command, error) {
	var (
		cmds   []Command
		cur    []string
		word   strings.Builder
		inWord bool
		op     string
	)
	flushWord := func() {
		if inWord {
			cur = append(cur, word.String())
			word.Reset()
			inWord = false
		}
	}
	flushCmd := func(next string) error {
		flushWord()
		if len(cur) == 0 {
			return fmt.Errorf("syntax error: no command before %q", next)
		}
		cmds = append(cmds, Command{Op: op, Args: cur})
		cur, op = nil, next
		return nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			flushWord()
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("syntax error: unterminated single quote")
			}
			word.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			inWord = true
			closed := false
			for i++; i < len(line); i++ {
				d := line[i]
				if d == '"' {
					closed = true
					break
				}
				if d == '$' || d == '`' {
					return nil, fmt.Errorf("unsupported: expansion %q inside double quotes", d)
				}
				if d == '\\' && i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
					i++
					if line[i] != '\n' {
						word.WriteByte(line[i])
					}
					continue
				}
				word.WriteByte(d)
			}
			if !closed {
				return nil, errors.New("syntax error: unterminated double quote")
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("syntax error: backslash at end of line")
			}
			i++
			if line[i] != '\n' { // backslash-newline continues the line
				word.WriteByte(line[i])
				inWord = true
			}
		case c == '&' && i+1 < len(line) && line[i+1] == '&':
			if err := flushCmd("&&"); err != nil {
				return nil, err
			}
			i++
		case c == '|' && i+1 < len(line) && line[i+1] == '|':
			if err := flushCmd("||"); err != nil {
				return nil, err
			}
			i++
		case c == ';':
			if err := flushCmd(";"); err != nil {
				return nil, err
			}
		case safeByte(c):
			word.WriteByte(c)
			inWord = true
		default:
			return nil, fmt.Errorf("unsupported: unquoted %q", c)
		}
	}
	flushWord()
	if len(cur) == 0 {
		if op != "" && op != ";" {
			return nil, fmt.Errorf("syntax error: nothing after %q", op)
		}
		return cmds, nil
	}
	return append(cmds, Command{Op: op, Args: cur}), nil
}

// safeByte mirrors the characters ssh.Quote leaves unquoted.
func safeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_@%+=:,./-", c) >= 0
}
