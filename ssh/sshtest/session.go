package sshtest

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

var errUnauthorized = errors.New("sshtest: key not authorized")

// session serves one session channel: a single exec or sftp subsystem
// request, then exit-status and close, as sshd does.
func (s *Server) session(ch gossh.Channel, reqs <-chan *gossh.Request, closed func()) {
	defer s.wg.Done()
	// Release the session count before the close reaches the client, so
	// that a client reusing the slot at once is not refused.
	defer ch.Close()
	defer closed()
	for req := range reqs {
		switch req.Type {
		case "exec":
			var p struct{ Command string }
			if err := gossh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			ctx, cancel := context.WithCancel(context.Background())
			go cancelOnSignal(reqs, cancel)
			code := s.run(ctx, p.Command, ch)
			cancel()
			ch.CloseWrite()
			sendExitStatus(ch, code)
			return
		case "subsystem":
			var p struct{ Name string }
			if err := gossh.Unmarshal(req.Payload, &p); err != nil || p.Name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			req.Reply(true, nil)
			if s.sftpStalls.Add(-1) >= 0 {
				// Never read or answer; end when the client closes.
				gossh.DiscardRequests(reqs)
				return
			}
			go gossh.DiscardRequests(reqs)
			srv, err := sftp.NewServer(ch)
			if err == nil {
				srv.Serve()
				srv.Close()
			}
			sendExitStatus(ch, 0)
			return
		default: // env, pty-req, shell, ...
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func (s *Server) run(ctx context.Context, cmd string, ch gossh.Channel) int {
	if s.handler == nil {
		fmt.Fprintln(ch.Stderr(), "sshtest: no handler")
		return 127
	}
	return s.handler(ctx, cmd, ch, ch, ch.Stderr())
}

// cancelOnSignal drains the requests of a running session and calls cancel
// on a "signal" request or when the client closes the channel.
func cancelOnSignal(reqs <-chan *gossh.Request, cancel context.CancelFunc) {
	defer cancel()
	for req := range reqs {
		if req.Type == "signal" {
			cancel()
		}
		if req.WantReply {
			req.Reply(false, nil)
		}
	}
}

func sendExitStatus(ch gossh.Channel, code int) {
	ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{uint32(code)}))
}

// forward serves a direct-tcpip channel (ssh -J, ProxyJump): it connects
// to the requested address and copies both ways.
func (s *Server) forward(nc gossh.NewChannel) {
	defer s.wg.Done()
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := gossh.Unmarshal(nc.ExtraData(), &p); err != nil {
		nc.Reject(gossh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	conn, err := dialTCP(p.Host, p.Port)
	if err != nil {
		nc.Reject(gossh.ConnectionFailed, err.Error())
		return
	}
	// Tracked like accepted connections, so Close can unblock the copies.
	if !s.track(conn) {
		conn.Close()
		nc.Reject(gossh.ConnectionFailed, "server closing")
		return
	}
	defer s.untrack(conn)
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	go gossh.DiscardRequests(reqs)
	done := make(chan struct{})
	go func() {
		io.Copy(ch, conn)
		ch.CloseWrite()
		close(done)
	}()
	io.Copy(conn, ch)
	conn.CloseWrite()
	<-done
}
