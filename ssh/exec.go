package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// Cmd is one remote command. There is deliberately no way to pass a
// pre-built command line: Args are quoted by Join. A caller that needs a
// pipeline passes []string{"sh", "-c", script, "sh", arg1, ...}, which
// keeps the arguments out of the script text.
type Cmd struct {
	Args   []string
	Stdin  io.Reader // optional; streamed, then EOF is sent
	Stdout io.Writer // optional; nil captures into Result.Stdout
	Stderr io.Writer // optional; nil captures into Result.Stderr

	// Timeout, when positive, bounds the command once it has a session
	// slot: when it passes, the remote process is sent SIGKILL, the
	// session is closed and Run returns a *CommandTimeoutError. Zero means
	// no bound but ctx's (for commands that follow output until stopped).
	Timeout time.Duration

	// Idempotent marks a command that is safe to run twice because it
	// changes nothing. Pool.Runner runs it again over a new connection
	// when the connection died under it; a command that is not idempotent
	// may have run, so it is never retried once started.
	Idempotent bool
}

// Result holds the captured output of a command whose Cmd.Stdout or
// Cmd.Stderr was nil.
type Result struct {
	Stdout, Stderr []byte
}

// Runner runs commands on one host. *Client implements it; tests of
// higher layers can substitute a fake.
type Runner interface {
	Run(ctx context.Context, cmd Cmd) (Result, error)
}

// Run runs cmd in a new session. A non-zero exit is returned as *ExitError
// together with the captured output. When ctx ends or cmd.Timeout passes,
// the remote process is sent SIGKILL, the session is closed and ctx's
// error (or a *CommandTimeoutError) is returned once the server has
// acknowledged the close, or after cancelWait at the latest.
//
// If the remote command exits before consuming Stdin, Run returns without
// waiting for Stdin: the goroutine copying it ends at its next Read.
func (c *Client) Run(ctx context.Context, cmd Cmd) (Result, error) {
	line, err := commandLine(cmd.Args)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", c.name, err)
	}
	if err := c.acquire(ctx); err != nil {
		if errors.Is(err, ErrClientClosed) {
			err = &ConnectionLostError{Host: c.name, Args: commandWords(cmd.Args), Err: err}
		}
		return Result{}, err
	}
	defer c.release()
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cmd.Timeout, errCommandTimeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	sess, err := c.newSession(ctx)
	if err != nil {
		if ctx.Err() == nil && c.lost() {
			return Result{}, &ConnectionLostError{Host: c.name, Args: commandWords(cmd.Args), Err: err}
		}
		return Result{}, c.endError(ctx, cmd, err)
	}
	defer sess.Close()

	var stdout, stderr bytes.Buffer
	sess.Stdout = cmd.Stdout
	if sess.Stdout == nil {
		sess.Stdout = &stdout
	}
	// stderr is always captured, in part, for the ExitError message.
	head := &headWriter{max: maxExitStderr}
	if cmd.Stderr != nil {
		sess.Stderr = io.MultiWriter(cmd.Stderr, head)
	} else {
		sess.Stderr = io.MultiWriter(&stderr, head)
	}
	if cmd.Stdin != nil {
		in, err := sess.StdinPipe()
		if err != nil {
			return Result{}, c.sessionError(cmd.Args, err)
		}
		// Not waited for: see the doc comment.
		go func() {
			io.Copy(in, cmd.Stdin)
			in.Close()
		}()
	}

	// Start waits for the server's reply to the exec request, which a
	// stalled server never sends: it runs beside ctx like Wait.
	done := make(chan error, 1)
	go func() {
		if err := sess.Start(line); err != nil {
			done <- startError{err}
			return
		}
		done <- sess.Wait()
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		sess.Signal(gossh.SIGKILL)
		sess.Close()
		// Wait returns once the server acknowledged the close (or the
		// connection died); after that no goroutine writes to the
		// caller's writers any more. OpenSSH holds a channel open while
		// its command lives and ignores signal requests of sessions
		// without a pty (docker logs -f would block here forever), so the
		// wait is bounded: a caller's Stdout/Stderr may then still see
		// late writes, which must not panic.
		select {
		case <-done:
		case <-time.After(cancelWait):
		}
		return Result{}, c.endError(ctx, cmd, ctx.Err())
	}
	var exit *gossh.ExitError
	if err != nil && !errors.As(err, &exit) && c.lost() {
		// The session ended without a status because the connection
		// went; whether the command ran is unknown.
		return Result{}, &ConnectionLostError{Host: c.name, Args: commandWords(cmd.Args), Started: true, Err: err}
	}
	var se startError
	if errors.As(err, &se) {
		return Result{}, c.sessionError(cmd.Args, se.err)
	}

	res := Result{}
	if cmd.Stdout == nil {
		res.Stdout = stdout.Bytes()
	}
	if cmd.Stderr == nil {
		res.Stderr = stderr.Bytes()
	}
	var missing *gossh.ExitMissingError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &exit):
		return res, newExitError(c.name, cmd.Args, exit.ExitStatus(), exit.Signal(), head.bytes())
	case errors.As(err, &missing):
		return res, newExitError(c.name, cmd.Args, -1, "", head.bytes())
	}
	return res, c.sessionError(cmd.Args, err)
}

// lostProbe bounds the keepalive that tells a dead connection from a
// command that ended oddly.
const lostProbe = 2 * time.Second

// lost reports whether the connection is gone. A session that ends without
// an exit status is ambiguous; one keepalive settles it.
func (c *Client) lost() bool {
	select {
	case <-c.closed:
		return true
	default:
	}
	err := c.ping(lostProbe)
	select {
	case <-c.closed:
		return true
	default:
	}
	if err != nil {
		c.Close()
		return true
	}
	return false
}

// startError marks a failed exec request, as opposed to the command's end.
type startError struct{ err error }

func (e startError) Error() string { return e.err.Error() }
func (e startError) Unwrap() error { return e.err }

// newSession opens a session channel, giving up when ctx ends: the open
// waits for the server's confirmation, which a stalled server never sends
// (until the keepalive closes the connection).
func (c *Client) newSession(ctx context.Context) (*gossh.Session, error) {
	type result struct {
		s   *gossh.Session
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.conn.NewSession()
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil {
				r.s.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// endError is the error of a command that did not get to finish: a
// *CommandTimeoutError if its own Timeout ended ctx, ctx's error if the
// caller's context ended, else err as a session error.
func (c *Client) endError(ctx context.Context, cmd Cmd, err error) error {
	if errors.Is(context.Cause(ctx), errCommandTimeout) {
		return &CommandTimeoutError{Host: c.name, Args: commandWords(cmd.Args), After: cmd.Timeout}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return c.sessionError(cmd.Args, err)
}

// errCommandTimeout is the cause of a context ended by Cmd.Timeout, telling
// it apart from the caller's own deadline.
var errCommandTimeout = errors.New("command timeout")

// cancelWait bounds how long a cancelled Run waits for the server to close
// the session.
const cancelWait = time.Second

// commandLine validates argv and quotes it.
func commandLine(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("empty command")
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return "", fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}
	return Join(args), nil
}

func (c *Client) sessionError(args []string, err error) error {
	return fmt.Errorf("%s: %s: %w", c.name, summarizeArgs(args), err)
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	max int
	buf bytes.Buffer
	cut bool
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); room < len(p) {
		w.buf.Write(p[:max(room, 0)])
		w.cut = true
	} else {
		w.buf.Write(p)
	}
	return len(p), nil
}

func (w *headWriter) bytes() []byte {
	if w.cut {
		return append(w.buf.Bytes(), "\n[...]"...)
	}
	return w.buf.Bytes()
}
