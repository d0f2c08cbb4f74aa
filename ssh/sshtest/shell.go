package sshtest

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Shell is a ContextHandler that behaves like sshd: it runs the command
// line with /bin/sh -c, so tests see real shell parsing of what the
// client sent. The process is killed when the client signals it or closes
// the session.
func Shell(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
	// The stdin copy may block on a client that keeps its input open.
	c.WaitDelay = time.Second
	err := c.Run()
	var exit *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	io.WriteString(stderr, "sshtest: "+err.Error()+"\n")
	return 127
}
