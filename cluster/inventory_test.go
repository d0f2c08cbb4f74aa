package cluster

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadInventoryExample(t *testing.T) {
	inv, err := LoadInventory("../inventory.yaml.example", "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Cluster != "prod" || len(inv.Hosts) != 3 {
		t.Fatalf("cluster %q, %d hosts", inv.Cluster, len(inv.Hosts))
	}
	m1 := inv.Hosts[0]
	if m1.Role != Manager || m1.Labels["storage"] != "raid" || m1.SSH.Port != 2222 {
		t.Errorf("m1 = %+v", m1)
	}
	if inv.Hosts[2].Role != Worker {
		t.Errorf("default role = %q", inv.Hosts[2].Role)
	}
	eff := inv.SSHFor(&inv.Hosts[0])
	if eff.User != "admin" || eff.Port != 2222 || eff.IdentityFile != "/home/u/.ssh/id_ed25519" || eff.ConnectTimeout != 5*time.Second {
		t.Errorf("effective ssh = %+v", eff)
	}
	eff = inv.SSHFor(&inv.Hosts[1])
	if eff.User != "deploy" || eff.Port != 22 {
		t.Errorf("w1 effective ssh = %+v", eff)
	}
	if !filepath.IsAbs(inv.State.Path) || filepath.Base(inv.State.Path) != "drover.state.json" {
		t.Errorf("state path %q", inv.State.Path)
	}
	if inv.State.LockTTL != 2*time.Minute {
		t.Errorf("lock ttl %v", inv.State.LockTTL)
	}
	if inv.State.OpTimeout != 10*time.Second {
		t.Errorf("op timeout %v", inv.State.OpTimeout)
	}
}

func TestInventoryJump(t *testing.T) {
	src := `cluster: c
ssh: {jump: a@j1:22}
hosts:
  - {name: h1, address: 10.0.0.1}
  - {name: h2, address: 10.0.0.2, ssh: {jump: [b@j2, c@j3:2200]}}
  - {name: h3, address: 10.0.0.3, ssh: {jump: ""}}
`
	inv, err := ParseInventory("/x/inv.yaml", []byte(src), "/h")
	if err != nil {
		t.Fatal(err)
	}
	got := func(i int) string { return strings.Join(inv.SSHFor(&inv.Hosts[i]).Jump, ",") }
	if got(0) != "a@j1:22" || got(1) != "b@j2,c@j3:2200" || got(2) != "" {
		t.Errorf("jumps: %q %q %q", got(0), got(1), got(2))
	}
}

func TestInventoryErrors(t *testing.T) {
	head := "cluster: c\nhosts:\n"
	cases := []struct {
		name, src, want string
	}{
		{"unknown top key", "cluster: c\nclustr: x\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `inv.yaml:2:1: unknown key "clustr" in the inventory`},
		{"unknown ssh key", "cluster: c\nssh:\n  usr: x\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `inv.yaml:3:3: unknown key "usr" in ssh`},
		{"unknown host key", head + "  - name: a\n    adress: 1.1.1.1\n", `inv.yaml:4:5: unknown key "adress" in host`},
		{"duplicate name", head + "  - {name: a, address: 1.1.1.1}\n  - {name: a, address: 1.1.1.2}\n", `inv.yaml:4:5: duplicate host name "a" (first at line 3)`},
		{"duplicate address", head + "  - {name: a, address: 1.1.1.1}\n  - {name: b, address: 1.1.1.1}\n", `duplicate address "1.1.1.1" for host b`},
		{"bad role", head + "  - {name: a, address: 1.1.1.1, role: boss}\n", `role "boss": must be manager or worker`},
		{"bad duration", "cluster: c\nssh: {connect_timeout: 5}\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `ssh.connect_timeout "5": not a duration`},
		{"lock_ttl below the minimum", "cluster: c\nstate:\n  lock_ttl: 2ns\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `inv.yaml:3:13: state.lock_ttl "2ns": must be at least 10s`},
		{"connect_timeout below the minimum", "cluster: c\nhosts:\n  - name: a\n    address: 1.1.1.1\n    ssh: {connect_timeout: 50ms}\n", `inv.yaml:5:28: hosts[a].ssh.connect_timeout "50ms": must be at least 100ms`},
		{"connect_timeout default below the minimum", "cluster: c\nssh: {connect_timeout: 1ns}\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `inv.yaml:2:24: ssh.connect_timeout "1ns": must be at least 100ms`},
		{"bad port", "cluster: c\nssh: {port: 70000}\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `ssh.port "70000"`},
		{"no hosts", "cluster: c\nhosts: []\n", `hosts: needs at least one host`},
		{"missing hosts", "cluster: c\n", `hosts: needs at least one host`},
		{"missing cluster", "hosts:\n  - {name: a, address: 1.1.1.1}\n", `missing key cluster`},
		{"missing address", head + "  - {name: a}\n", `host a: missing address`},
		{"bad yaml", "cluster: [\n", `inv.yaml:1:1: did not find expected node content`},
		{"misindented key", "cluster: c\nhosts:\n  - name: a\n    address: 1.1.1.1\n   role: manager\n", `inv.yaml:5:4: "role" is indented to column 4, which lines up with no enclosing key: misindented?`},
		{"empty", "", `empty inventory`},
		{"duplicate key", "cluster: c\ncluster: d\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `inv.yaml:2:1: key "cluster" appears twice`},
		{"bad backend", "cluster: c\nstate: {backend: s3}\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `state.backend "s3"`},
		{"op timeout too short", "cluster: c\nstate: {op_timeout: 100ms}\nhosts:\n  - {name: a, address: 1.1.1.1}\n", `inv.yaml:2:21: state.op_timeout 100ms: must be at least 1s`},
		{"bad label", head + "  - {name: a, address: 1.1.1.1, labels: {zone: [a]}}\n", `label zone must be a string`},
		{"bad name", head + "  - {name: 'a b', address: 1.1.1.1}\n", `host name "a b"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseInventory("/d/inv.yaml", []byte(c.src), "/h")
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q, want it to contain %q", err, c.want)
			}
			var ie *InventoryError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *InventoryError", err)
			}
		})
	}
}

func TestExpandPath(t *testing.T) {
	for in, want := range map[string]string{
		"~":        "/home/u",
		"~/.ssh/k": "/home/u/.ssh/k",
		"rel/k":    "/inv/rel/k",
		"/abs/k":   "/abs/k",
		"":         "",
	} {
		if got := ExpandPath(in, "/home/u", "/inv"); got != want {
			t.Errorf("ExpandPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInventoryStateOpTimeout(t *testing.T) {
	src := "cluster: c\nstate: {backend: managers, op_timeout: 3s}\nhosts:\n  - {name: a, address: 1.1.1.1, role: manager}\n"
	inv, err := ParseInventory("/d/inv.yaml", []byte(src), "/h")
	if err != nil {
		t.Fatal(err)
	}
	if inv.State.OpTimeout != 3*time.Second {
		t.Errorf("op timeout %v", inv.State.OpTimeout)
	}
}

func TestInventoryPrivateAddress(t *testing.T) {
	src := "cluster: c\nhosts:\n  - {name: a, address: a.example.com, private_address: 10.1.0.5}\n  - {name: b, address: 10.0.0.2}\n"
	inv, err := ParseInventory("/d/inv.yaml", []byte(src), "/h")
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.Hosts[0].ClusterAddress(); got != "10.1.0.5" {
		t.Errorf("a: cluster address %q, want the private_address", got)
	}
	if got := inv.Hosts[1].ClusterAddress(); got != "10.0.0.2" {
		t.Errorf("b: cluster address %q, want the address", got)
	}
	_, err = ParseInventory("/d/inv.yaml", []byte("cluster: c\nhosts:\n  - {name: a, address: a, private_address: priv.example}\n"), "/h")
	if err == nil || !strings.Contains(err.Error(), "private_address") || !strings.Contains(err.Error(), "not an IP address") {
		t.Errorf("a name as private_address: %v", err)
	}
}
