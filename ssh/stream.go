package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// DialCommand runs argv in a new session and returns its standard streams
// as one connection: what is written goes to the command's stdin, what it
// prints on stdout is read. It is how `docker system dial-stdio` carries
// the Engine API over SSH, as docker's own ssh:// hosts do. The session
// holds one of the connection's session slots until Close.
//
// When the command ends before the peer closed the stream (it could not
// start, or failed), Read returns an *ExitError holding the command's
// stderr, so callers can tell "docker: not found" from a dropped link.
func (c *Client) DialCommand(ctx context.Context, argv []string) (net.Conn, error) {
	line, err := commandLine(argv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.name, err)
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	sc, err := c.startStream(argv, line)
	if err != nil {
		c.release()
		return nil, err
	}
	return sc, nil
}

func (c *Client) startStream(argv []string, line string) (*cmdConn, error) {
	sess, err := c.conn.NewSession()
	if err != nil {
		return nil, c.sessionError(argv, err)
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return nil, c.sessionError(argv, err)
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return nil, c.sessionError(argv, err)
	}
	sc := &cmdConn{client: c, argv: argv, sess: sess, stdin: stdin, stdout: stdout,
		stderr: &syncHead{head: headWriter{max: maxExitStderr}}, exited: make(chan struct{})}
	sess.Stderr = sc.stderr
	if err := sess.Start(line); err != nil {
		sess.Close()
		return nil, c.sessionError(argv, err)
	}
	go func() {
		sc.waitErr = sess.Wait()
		close(sc.exited)
	}()
	return sc, nil
}

// DialSocket opens a direct-streamlocal channel to a Unix socket on the
// host (OpenSSH's AllowStreamLocalForwarding, on by default). No process
// runs on the host; the socket is opened with the SSH user's rights. The
// channel does not count against the session slots: sshd's MaxSessions
// bounds sessions, not forwarded channels.
func (c *Client) DialSocket(ctx context.Context, path string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := c.conn.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s over ssh: %w", c.name, path, err)
	}
	return conn, nil
}

var _ net.Conn = (*cmdConn)(nil)

// cmdConn is a running command seen as a net.Conn.
type cmdConn struct {
	client *Client
	argv   []string
	sess   *gossh.Session
	stdin  io.WriteCloser
	stdout io.Reader
	stderr *syncHead

	wmu     sync.Mutex // stdin's Write and CloseWrite
	exited  chan struct{}
	waitErr error // set before exited closes

	closeOnce sync.Once
}

// exitWait bounds how long a Read that hit EOF waits for the exit status.
const exitWait = 2 * time.Second

func (s *cmdConn) Read(p []byte) (int, error) {
	n, err := s.stdout.Read(p)
	if err == io.EOF && n == 0 {
		if xe := s.exitError(); xe != nil {
			return 0, xe
		}
	}
	return n, err
}

// Write sends p to the command's stdin. A command that already ended
// makes Write fail with the *ExitError that says why.
func (s *cmdConn) Write(p []byte) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, err := s.stdin.Write(p)
	if err != nil {
		if xe := s.exitError(); xe != nil {
			return n, xe
		}
	}
	return n, err
}

// exitError waits (briefly) for the command's end and returns an
// *ExitError if it failed: exited non-zero, or died without a status but
// printed something on stderr.
func (s *cmdConn) exitError() *ExitError {
	select {
	case <-s.exited:
	case <-time.After(exitWait):
		return nil
	}
	var exit *gossh.ExitError
	switch {
	case errors.As(s.waitErr, &exit) && exit.ExitStatus() != 0:
		return newExitError(s.client.name, s.argv, exit.ExitStatus(), exit.Signal(), s.stderr.bytes())
	case s.waitErr != nil && len(s.stderr.bytes()) > 0:
		return newExitError(s.client.name, s.argv, -1, "", s.stderr.bytes())
	}
	return nil
}

// CloseWrite closes the command's stdin, leaving stdout readable.
func (s *cmdConn) CloseWrite() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.stdin.Close()
}

// Close ends the session and gives its slot back. It does not close stdin
// first: x/crypto's channel does not allow a half-close concurrent with a
// Write, and the session's close ends the remote command's input anyway.
func (s *cmdConn) Close() error {
	s.closeOnce.Do(func() {
		s.sess.Close()
		s.client.release()
	})
	return nil
}

// Stderr returns what the command printed on stderr so far (capped).
func (s *cmdConn) Stderr() string { return string(s.stderr.bytes()) }

func (s *cmdConn) LocalAddr() net.Addr  { return cmdAddr{s.client.name} }
func (s *cmdConn) RemoteAddr() net.Addr { return cmdAddr{s.client.name} }

// Deadlines are not supported by SSH sessions; callers bound their work
// with contexts (HTTP clients cancel by closing the connection).
func (s *cmdConn) SetDeadline(time.Time) error      { return nil }
func (s *cmdConn) SetReadDeadline(time.Time) error  { return nil }
func (s *cmdConn) SetWriteDeadline(time.Time) error { return nil }

type cmdAddr struct{ host string }

func (a cmdAddr) Network() string { return "ssh-exec" }
func (a cmdAddr) String() string  { return a.host }

// syncHead is a headWriter safe for the session's stderr copier and a
// concurrent reader.
type syncHead struct {
	mu   sync.Mutex
	head headWriter
}

func (w *syncHead) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.head.Write(p)
}

func (w *syncHead) bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.head.bytes()...)
}
