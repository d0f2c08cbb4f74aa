package ssh

import "strings"

// Quote returns s quoted for a POSIX shell so that the shell turns it back
// into exactly one word equal to s.
//
// sshd hands the command line of an exec request to the user's login shell
// ("$SHELL -c line"), so every remote argument has to survive a round of
// shell parsing. Words made only of harmless characters stay readable; all
// others are wrapped in single quotes, inside which a shell interprets
// nothing; an embedded single quote closes the quoting, is escaped and
// reopens it:
//
//	it's  ->  'it'\''s'
//
// The quoting assumes a POSIX-compatible login shell (sh, dash, bash, ksh,
// zsh). fish and csh use different rules and are not supported. s must not
// contain NUL bytes: they cannot be part of an argv and sshd would cut the
// line there; Run rejects such arguments.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafeWord(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b.WriteString(`'\''`)
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// Join quotes every element of argv and joins them with spaces. It is the
// only place where drover builds a remote command line.
func Join(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(a))
	}
	return b.String()
}

// isSafeWord reports whether s can be passed to a shell unquoted.
func isSafeWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSafeByte(s[i]) {
			return false
		}
	}
	// A bare word can still change meaning depending on its position:
	// "A=b cmd" is an assignment, "=cmd" expands to a path in zsh and "if"
	// opens a compound command. Quoting them is harmless everywhere, so do
	// it unconditionally instead of tracking the word's position.
	return !looksLikeAssignment(s) && s[0] != '=' && !isShellKeyword(s)
}

func isSafeByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("_@%+=:,./-", c) >= 0
}

// looksLikeAssignment reports whether s has the form NAME=..., which a shell
// treats as a variable assignment when it precedes a command.
func looksLikeAssignment(s string) bool {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return false
	}
	for i := 0; i < eq; i++ {
		c := s[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// isShellKeyword reports whether s is a reserved word of sh, bash, ksh or
// zsh that consists only of safe characters.
func isShellKeyword(s string) bool {
	switch s {
	case "case", "coproc", "do", "done", "elif", "else", "end", "esac", "fi",
		"for", "foreach", "function", "if", "in", "repeat", "select", "then",
		"time", "until", "while":
		return true
	}
	return false
}
