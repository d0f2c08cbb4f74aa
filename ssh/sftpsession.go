package ssh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

// File operations run over one SFTP session per client, opened on first
// use. SFTP requests cannot be cancelled one by one, and a stuck server
// never answers them: every operation runs beside its bound (ctx and the
// client's FileTimeout), and when the bound passes first the session is
// dropped — closed in the background, so the operation fails there — and
// the operation returns at once. The next operation opens a new session.

// sftpSession is an SFTP client with the SSH session that carries it, kept
// so that dropping it can close the channel (sftp.Client.Close alone waits
// for the server).
type sftpSession struct {
	client *sftp.Client
	sess   *gossh.Session
}

func (s *sftpSession) close() {
	s.sess.Close()
	s.client.Close()
}

func openSFTP(conn *gossh.Client) (*sftpSession, error) {
	sess, err := conn.NewSession()
	if err != nil {
		return nil, err
	}
	pw, err := sess.StdinPipe()
	if err == nil {
		var pr interface{ Read([]byte) (int, error) }
		if pr, err = sess.StdoutPipe(); err == nil {
			if err = sess.RequestSubsystem("sftp"); err == nil {
				var client *sftp.Client
				if client, err = sftp.NewClientPipe(pr, pw); err == nil {
					return &sftpSession{client: client, sess: sess}, nil
				}
			}
		}
	}
	sess.Close()
	return nil, err
}

// sftpClient returns the client's SFTP session, opening it if needed.
func (c *Client) sftpClient(ctx context.Context) (*sftpSession, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	// The SFTP session occupies a session slot for as long as it lives.
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	type result struct {
		s   *sftpSession
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := openSFTP(c.conn)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.release()
			return nil, fmt.Errorf("%s: start sftp: %w", c.name, r.err)
		}
		c.sftp = r.s
		return r.s, nil
	case <-ctx.Done():
		c.release()
		go func() {
			if r := <-ch; r.err == nil {
				r.s.close()
			}
		}()
		return nil, ctx.Err()
	}
}

// dropSFTP forgets s, if it is still the client's session, and closes it
// in the background.
func (c *Client) dropSFTP(s *sftpSession) {
	c.sftpMu.Lock()
	if c.sftp == s {
		c.sftp = nil
		c.release()
	}
	c.sftpMu.Unlock()
	go s.close()
}

// fileOp runs op on the client's SFTP session within ctx and FileTimeout;
// what ("read /path") names it in a timeout error.
func fileOp[T any](ctx context.Context, c *Client, what string, op func(ctx context.Context, s *sftp.Client) (T, error)) (T, error) {
	var zero T
	if c.fileTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.fileTimeout, errCommandTimeout)
		defer cancel()
	}
	fail := func(err error) (T, error) {
		if errors.Is(context.Cause(ctx), errCommandTimeout) {
			return zero, &CommandTimeoutError{Host: c.name, Args: []string{"sftp", what}, After: c.fileTimeout}
		}
		return zero, err
	}
	s, err := c.sftpClient(ctx)
	if err != nil {
		if ctx.Err() == nil && (errors.Is(err, ErrClientClosed) || c.lost()) {
			// Nothing was sent: safe to try again elsewhere.
			return zero, &ConnectionLostError{Host: c.name, Args: []string{"sftp", what}, Err: err}
		}
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := op(ctx, s.client)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && !serverAnswered(r.err) && ctx.Err() == nil && c.lost() {
			// Not the server's answer but the transport's end: the
			// operation may or may not have been carried out.
			c.dropSFTP(s)
			return zero, &ConnectionLostError{Host: c.name, Args: []string{"sftp", what}, Started: true, Err: r.err}
		}
		return r.v, r.err
	case <-ctx.Done():
		c.dropSFTP(s)
		return fail(ctx.Err())
	}
}

// serverAnswered reports whether err is the SFTP server's answer (a status
// such as "no such file"), which proves the connection alive.
func serverAnswered(err error) bool {
	var st *sftp.StatusError
	return errors.As(err, &st) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrPermission)
}
