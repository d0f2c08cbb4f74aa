package cluster

import (
	"errors"
	"testing"
)

// FuzzParseInventory: any inventory file is loaded or refused with an
// *InventoryError (the file:line:col: kind every inventory error is); it
// never panics. An accepted one has hosts with unique names and the
// minimum timings. Seeds in testdata/fuzz are the example and lab
// inventories.
func FuzzParseInventory(f *testing.F) {
	f.Add([]byte("cluster: c\nhosts:\n  - {name: a, address: 1.1.1.1}\n"))
	f.Add([]byte("cluster: c\nssh: {jump: [a, 'b:22'], connect_timeout: 1s}\nstate: {backend: managers, lock_ttl: 1m}\nhosts:\n  - {name: a, address: 1.1.1.1, role: manager, labels: {z: a}}\n"))
	f.Add([]byte("cluster: c\nhosts:\n  - name: a\n    address: 1.1.1.1\n    ssh: {connect_timeout: 1ns}\n"))
	f.Add([]byte("cluster: &x c\nhosts: [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ParseInventory("/d/inv.yaml", data, "/h")
		if err != nil {
			var ie *InventoryError
			if !errors.As(err, &ie) {
				t.Fatalf("%T is not an *InventoryError: %v", err, err)
			}
			return
		}
		names := map[string]bool{}
		for i := range inv.Hosts {
			h := inv.Hosts[i]
			if names[h.Name] {
				t.Fatalf("host %q twice", h.Name)
			}
			names[h.Name] = true
			if s := inv.SSHFor(&h); s.ConnectTimeout != 0 && s.ConnectTimeout < MinConnectTimeout {
				t.Fatalf("host %s: connect_timeout %s accepted", h.Name, s.ConnectTimeout)
			}
		}
		if inv.State.LockTTL < MinLockTTL {
			t.Fatalf("lock_ttl %s accepted", inv.State.LockTTL)
		}
	})
}
