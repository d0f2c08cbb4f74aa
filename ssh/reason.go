package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	gossh "golang.org/x/crypto/ssh"
)

// Reason returns a short, stable description of why err happened, such as
// "connection refused", "timeout", "auth failed" or "host key mismatch",
// for tables of per-host results. It falls back to err.Error().
func Reason(err error) string {
	var (
		hke  *HostKeyError
		ide  *IdentityError
		exit *ExitError
		dns  *net.DNSError
		och  *gossh.OpenChannelError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &hke):
		return hke.Kind.String()
	case errors.Is(err, ErrAuthFailed):
		return "auth failed"
	case errors.As(err, &ide) && ide.Encrypted:
		return "identity file encrypted"
	case errors.As(err, &ide):
		return "identity file unusable"
	case errors.As(err, &exit):
		if exit.Signal != "" {
			return "killed by signal " + exit.Signal
		}
		return fmt.Sprintf("exit %d", exit.Code)
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrConnectionLost):
		return "connection lost"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "unknown host"
		}
		return "dns error"
	case errors.As(err, &och):
		// A jump host could not reach the next hop; sshd passes the
		// errno text along.
		return jumpReason(och.Message)
	case errors.Is(err, ErrClientClosed), errors.Is(err, io.EOF):
		return "connection closed"
	}
	return err.Error()
}

func jumpReason(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "refused"):
		return "connection refused"
	case strings.Contains(m, "no route"):
		return "no route to host"
	case strings.Contains(m, "timed out"):
		return "timeout"
	}
	return "jump host could not connect: " + msg
}
