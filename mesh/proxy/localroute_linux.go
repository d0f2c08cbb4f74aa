package proxy

import (
	"net"
	"syscall"
)

// Ensure makes the range local (create or replace: the same route again
// changes nothing), as `ip route replace local RANGE dev lo` does.
func (r LocalRange) Ensure() error {
	fail := func(err error) error { return &RouteError{Range: r.String(), Err: err} }
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fail(err)
	}
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return fail(err)
	}
	defer syscall.Close(fd)
	tv := syscall.Timeval{Sec: 2}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	const seq = 1
	if err := syscall.Sendto(fd, r.routeRequest(seq, lo.Index), 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return fail(err)
	}
	buf := make([]byte, 4096)
	n, _, err := syscall.Recvfrom(fd, buf, 0)
	if err != nil {
		return fail(err)
	}
	if err := parseAck(buf[:n], seq, func(e int32) error { return syscall.Errno(e) }); err != nil {
		return fail(err)
	}
	return nil
}
