package ssh

import (
	"fmt"
	"strings"
)

// maxExitStderr caps the stderr kept in an ExitError: enough for any error
// message, not a whole build log in memory per failed host.
const maxExitStderr = 4 << 10

// ExitError reports a remote command that exited non-zero or was killed.
type ExitError struct {
	Host   string
	Args   []string // the first words of argv, for messages only
	Code   int      // exit status; -1 if the command died without one
	Signal string   // signal name without "SIG" if killed by a signal
	Stderr string   // trimmed stderr, at most ~4 KiB
}

func newExitError(host string, args []string, code int, signal string, stderr []byte) *ExitError {
	return &ExitError{
		Host:   host,
		Args:   commandWords(args),
		Code:   code,
		Signal: signal,
		Stderr: strings.TrimSpace(string(stderr)),
	}
}

func (e *ExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: ", e.Host, summarizeArgs(e.Args))
	switch {
	case e.Signal != "":
		fmt.Fprintf(&b, "killed by signal %s", e.Signal)
	case e.Code < 0:
		b.WriteString("exited without status")
	default:
		fmt.Fprintf(&b, "exit %d", e.Code)
	}
	if line, _, _ := strings.Cut(e.Stderr, "\n"); line != "" {
		b.WriteString(": ")
		b.WriteString(line)
	}
	return b.String()
}

func (e *ExitError) hostName() string { return e.Host }

// commandWords picks the words of argv that name a command in messages:
// the first two, after a leading "sudo -n"; for a script run as
// `sh -c SCRIPT NAME ...`, its NAME ($0). Enough to recognise "docker run"
// or "drover-observe" without dumping scripts or secrets.
func commandWords(args []string) []string {
	if len(args) > 2 && args[0] == "sudo" && args[1] == "-n" {
		args = args[2:]
	}
	if len(args) > 3 && args[0] == "sh" && args[1] == "-c" {
		return []string{args[3]}
	}
	return append([]string(nil), args[:min(len(args), 2)]...)
}

// summarizeArgs renders commandWords(args) for messages.
func summarizeArgs(args []string) string {
	words := commandWords(args)
	for i, w := range words {
		if len(w) > 40 {
			words[i] = w[:40] + "..."
		}
	}
	return strings.Join(words, " ")
}
