package cluster

import (
	"strings"
	"testing"
	"time"
)

func TestInventoryCommandTimeouts(t *testing.T) {
	src := `cluster: c
ssh: {read_timeout: 10s, change_timeout: 1m}
hosts:
  - {name: h1, address: 10.0.0.1}
  - {name: h2, address: 10.0.0.2, ssh: {read_timeout: 1m30s, transfer_timeout: 30m}}
`
	inv, err := ParseInventory("/x/inv.yaml", []byte(src), "/h")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host                   int
		read, change, transfer time.Duration
	}{
		{0, 10 * time.Second, time.Minute, 0}, // 0: the engine's default
		{1, 90 * time.Second, time.Minute, 30 * time.Minute},
	}
	for _, tt := range tests {
		s := inv.SSHFor(&inv.Hosts[tt.host])
		if s.ReadTimeout != tt.read || s.ChangeTimeout != tt.change || s.TransferTimeout != tt.transfer {
			t.Errorf("host %d: read %v change %v transfer %v, want %v %v %v", tt.host,
				s.ReadTimeout, s.ChangeTimeout, s.TransferTimeout, tt.read, tt.change, tt.transfer)
		}
	}

	_, err = ParseInventory("/x/inv.yaml", []byte("cluster: c\nhosts:\n  - {name: a, address: 1.1.1.1, ssh: {read_timeout: 0s}}\n"), "/h")
	if err == nil || !strings.Contains(err.Error(), `hosts[a].ssh.read_timeout "0s": not a duration`) {
		t.Errorf("got %v", err)
	}
	_, err = ParseInventory("/x/inv.yaml", []byte("cluster: c\nssh: {change_timeout: 500ms}\nhosts:\n  - {name: a, address: 1.1.1.1}\n"), "/h")
	if err == nil || !strings.Contains(err.Error(), `/x/inv.yaml:2:23: ssh.change_timeout "500ms": must be at least 1s`) {
		t.Errorf("got %v", err)
	}
}
