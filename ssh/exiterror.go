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
	n := min(len(args), 2)
	return &ExitError{
		Host:   host,
		Args:   append([]string(nil), args[:n]...),
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

// summarizeArgs renders the first two words of argv for messages: enough
// to recognise "docker run" without dumping scripts or secrets.
func summarizeArgs(args []string) string {
	words := args[:min(len(args), 2)]
	out := make([]string, len(words))
	for i, w := range words {
		if len(w) > 40 {
			w = w[:40] + "..."
		}
		out[i] = w
	}
	return strings.Join(out, " ")
}
