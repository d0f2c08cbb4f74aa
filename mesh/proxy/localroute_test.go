package proxy

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"syscall"
	"testing"
)

// The request says what `ip route replace local 198.18.0.0/16 dev lo`
// says (RTM_NEWROUTE, create|replace|ack, table local, proto boot, scope
// host, type local, dst 198.18.0.0/16, oif lo), in host byte order; e2e
// TestMeshDiscovery checks the kernel's route.
func TestLocalRangeRequest(t *testing.T) {
	r, err := ParseLocalRange("198.18.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	got := r.routeRequest(7, 1)
	want := "" +
		"34000000" + "1800" + "0505" + "07000000" + "00000000" + // nlmsghdr: len 52, RTM_NEWROUTE, REQUEST|ACK|REPLACE|CREATE, seq 7
		"02100000" + "ff03fe02" + "00000000" + // rtmsg: inet, /16, no src, tos 0, table local, boot, scope host, type local
		"0800" + "0100" + "c6120000" + // RTA_DST 198.18.0.0
		"0800" + "0400" + "01000000" + // RTA_OIF 1
		"0800" + "0f00" + "ff000000" // RTA_TABLE 255
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the expected bytes are little-endian")
	}
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("request\n got %s\nwant %s", h, want)
	}
}

func TestParseLocalRange(t *testing.T) {
	for _, bad := range []string{"", "198.18.0.0", "fd00::/8", "x/16"} {
		if _, err := ParseLocalRange(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	r, err := ParseLocalRange("198.18.7.1/16")
	if err != nil || r.String() != "198.18.0.0/16" {
		t.Errorf("got %v, %v", r, err)
	}
}

func TestParseAck(t *testing.T) {
	msg := func(typ uint16, seq uint32, code int32) []byte {
		b := make([]byte, nlmsgHdrLen+4)
		ne := binary.NativeEndian
		ne.PutUint32(b[0:], uint32(len(b)))
		ne.PutUint16(b[4:], typ)
		ne.PutUint32(b[8:], seq)
		ne.PutUint32(b[nlmsgHdrLen:], uint32(code))
		return b
	}
	errno := func(e int32) error { return syscall.Errno(e) }
	if err := parseAck(msg(nlmsgError, 3, 0), 3, errno); err != nil {
		t.Errorf("ack: %v", err)
	}
	if err := parseAck(msg(nlmsgError, 3, -int32(syscall.EPERM)), 3, errno); !errors.Is(err, syscall.EPERM) {
		t.Errorf("EPERM: %v", err)
	}
	if err := parseAck(msg(nlmsgError, 4, 0), 3, errno); err == nil {
		t.Error("another sequence's ack taken")
	}
	if err := parseAck([]byte{1, 2, 3}, 3, errno); err == nil {
		t.Error("truncated: no error")
	}
	if err := parseAck(append(msg(99, 3, 0), msg(nlmsgError, 3, 0)...), 3, errno); err != nil {
		t.Errorf("ack after another message: %v", err)
	}
}
