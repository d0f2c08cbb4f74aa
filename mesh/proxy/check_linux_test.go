package proxy

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// TestCheckLeavesNoTimeWait: an active check closes with a reset, so no
// TIME_WAIT socket of this host holds an ephemeral port afterwards (one
// would keep a new replica's gate, whose port docker takes from the same
// range, from listening for a minute).
func TestCheckLeavesNoTimeWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { b := make([]byte, 1); c.Read(b); c.Close() }()
		}
	}()
	d := &net.Dialer{Timeout: time.Second}
	for i := 0; i < 5; i++ {
		if err := checkOnce(context.Background(), d, TCP, ln.Addr().String(), false); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	port := ln.Addr().(*net.TCPAddr).Port
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	// rem_address of 127.0.0.1:port, state 06 (TIME_WAIT).
	remote := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && f[2] == remote && f[3] == "06" {
			n++
		}
	}
	if n != 0 {
		t.Errorf("%d TIME_WAIT sockets to the checked backend after 5 checks, want 0", n)
	}
}
