package proxy

import (
	"encoding/binary"
	"fmt"
	"net"
)

// LocalRange is a block of addresses the proxy makes local on its host
// (the services' virtual addresses, docs/networking.md): the kernel then
// delivers packets to any address of it to the host itself, where the
// proxy listens. It is the netlink form of
// `ip route replace local RANGE dev lo`, so the proxy needs NET_ADMIN in
// the host's network namespace and no `ip` binary.
type LocalRange struct {
	Net *net.IPNet
}

// ParseLocalRange reads "198.18.0.0/16" (IPv4 only).
func ParseLocalRange(s string) (LocalRange, error) {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		return LocalRange{}, fmt.Errorf("local range: %w", err)
	}
	if n.IP.To4() == nil {
		return LocalRange{}, fmt.Errorf("local range %s: IPv4 only", s)
	}
	return LocalRange{Net: n}, nil
}

func (r LocalRange) String() string {
	if r.Net == nil {
		return ""
	}
	return r.Net.String()
}

// Netlink numbers (linux/rtnetlink.h, linux/netlink.h); spelled out here so
// that the message is built and tested on every platform.
const (
	nlmsgError     = 2
	rtmNewRoute    = 24
	nlmFRequest    = 0x1
	nlmFAck        = 0x4
	nlmFReplace    = 0x100
	nlmFCreate     = 0x400
	afInet         = 2
	rtTableLocal   = 255
	rtprotBoot     = 3
	rtScopeHost    = 254
	rtnLocal       = 2
	rtaDst         = 1
	rtaOif         = 4
	rtaTable       = 15
	nlmsgHdrLen    = 16
	rtmsgLen       = 12
	rtattrHdrLen   = 4
	rtattrU32Len   = rtattrHdrLen + 4
	routeReqLength = nlmsgHdrLen + rtmsgLen + 3*rtattrU32Len
)

// routeRequest is the RTM_NEWROUTE message (create or replace) of a local
// route for r in the local table through the interface ifindex (lo).
func (r LocalRange) routeRequest(seq uint32, ifindex int) []byte {
	b := make([]byte, routeReqLength)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], routeReqLength)
	ne.PutUint16(b[4:], rtmNewRoute)
	ne.PutUint16(b[6:], nlmFRequest|nlmFAck|nlmFCreate|nlmFReplace)
	ne.PutUint32(b[8:], seq)
	// pid 0: the kernel
	ones, _ := r.Net.Mask.Size()
	m := b[nlmsgHdrLen:]
	m[0] = afInet
	m[1] = byte(ones) // dst_len
	m[4] = rtTableLocal
	m[5] = rtprotBoot
	m[6] = rtScopeHost
	m[7] = rtnLocal
	a := m[rtmsgLen:]
	attr := func(typ uint16, val []byte) {
		ne.PutUint16(a[0:], uint16(rtattrHdrLen+len(val)))
		ne.PutUint16(a[2:], typ)
		copy(a[rtattrHdrLen:], val)
		a = a[rtattrU32Len:]
	}
	attr(rtaDst, r.Net.IP.To4())
	var u [4]byte
	ne.PutUint32(u[:], uint32(ifindex))
	attr(rtaOif, u[:])
	ne.PutUint32(u[:], rtTableLocal)
	attr(rtaTable, u[:])
	return b
}

// RouteError is the kernel's refusal of the route (EPERM without
// NET_ADMIN).
type RouteError struct {
	Range string
	Err   error
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("make %s local (ip route replace local %s dev lo): %v", e.Range, e.Range, e.Err)
}
func (e *RouteError) Unwrap() error { return e.Err }

// parseAck reads the kernel's answer to seq: nil for an acknowledgement,
// the errno it carries otherwise.
func parseAck(b []byte, seq uint32, errno func(int32) error) error {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := ne.Uint32(b[0:])
		if l < nlmsgHdrLen || int(l) > len(b) {
			return fmt.Errorf("netlink: truncated message")
		}
		typ, gotSeq := ne.Uint16(b[4:]), ne.Uint32(b[8:])
		if typ == nlmsgError && gotSeq == seq {
			if l < nlmsgHdrLen+4 {
				return fmt.Errorf("netlink: short error message")
			}
			if code := int32(ne.Uint32(b[nlmsgHdrLen:])); code != 0 {
				return errno(-code)
			}
			return nil
		}
		b = b[(l+3)&^3:]
	}
	return fmt.Errorf("netlink: no acknowledgement")
}
