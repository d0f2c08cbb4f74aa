//go:build e2e

package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

type nodeJSON struct {
	Name          string            `json:"name"`
	Address       string            `json:"address"`
	Role          string            `json:"role"`
	Status        string            `json:"status"`
	Reason        string            `json:"reason"`
	EngineVersion string            `json:"engine_version"`
	OS            string            `json:"os"`
	Arch          string            `json:"arch"`
	CPUs          int               `json:"cpus"`
	MemoryBytes   int64             `json:"memory_bytes"`
	Labels        map[string]string `json:"labels"`
}

func nodeLs(t *testing.T, inv string, extra ...string) (map[string]nodeJSON, string, int) {
	t.Helper()
	out, errOut, code := runDrover(t, inv, append(extra, "--output", "json", "node", "ls")...)
	var nodes []nodeJSON
	if err := json.Unmarshal([]byte(out), &nodes); err != nil {
		t.Fatalf("node ls --output json is not JSON: %v\n%s", err, out)
	}
	m := map[string]nodeJSON{}
	for _, n := range nodes {
		m[n.Name] = n
	}
	return m, errOut, code
}

func TestNodeLs(t *testing.T) {
	l := lab(t)
	inv := copyInventory(t)
	nodes, _, code := nodeLs(t, inv)
	if code != 0 || len(nodes) != len(l.Hosts) {
		t.Fatalf("exit %d, %d nodes", code, len(nodes))
	}
	for _, h := range l.Hosts {
		n := nodes[h.Name]
		want := hostDocker(t, h.Name, "version", "--format", "{{.Server.Version}}")
		if n.Status != "Ready" || n.EngineVersion != want || n.OS != "linux" || n.Arch != "amd64" || n.Address != h.Addr || n.CPUs < 1 || n.MemoryBytes < 1<<20 {
			t.Errorf("%s: %+v (engine want %q)", h.Name, n, want)
		}
	}
	if nodes["h1"].Role != "manager" || nodes["h3"].Labels["storage"] != "raid" {
		t.Errorf("inventory role/labels not shown: %+v %+v", nodes["h1"], nodes["h3"])
	}
	// The table has the same facts.
	out, _, _ := runDrover(t, inv, "node", "ls")
	for _, col := range []string{"NAME", "ENGINE", "OS/ARCH", "linux/amd64", "Ready", "storage=raid,zone=c"} {
		if !strings.Contains(out, col) {
			t.Errorf("table lacks %q:\n%s", col, out)
		}
	}
	out, _, code = runDrover(t, inv, "node", "inspect", "h2")
	var one nodeJSON
	if code != 0 || json.Unmarshal([]byte(out), &one) != nil || one.Name != "h2" || one.Status != "Ready" {
		t.Errorf("node inspect h2: exit %d\n%s", code, out)
	}
}

func TestNodeLsHostDown(t *testing.T) {
	inv := copyInventory(t)
	labCmd(t, "stop", "h2")
	t.Cleanup(func() { labCmd(t, "start", "h2") })
	start := time.Now()
	nodes, _, code := nodeLs(t, inv)
	took := time.Since(start)
	if code != 0 {
		t.Errorf("node ls exit %d with one host down (a down host is a status, not an error)", code)
	}
	if n := nodes["h2"]; n.Status != "Down" || n.Reason == "" {
		t.Errorf("h2 = %+v, want Down with a reason", n)
	}
	for _, h := range []string{"h1", "h3"} {
		if nodes[h].Status != "Ready" {
			t.Errorf("%s = %+v, want Ready", h, nodes[h])
		}
	}
	// The inventory's connect_timeout is 2s.
	if took > 5*time.Second {
		t.Errorf("node ls took %s with h2 down; should stay within the connect timeout", took)
	}
	labCmd(t, "start", "h2")
	waitFor(t, 60*time.Second, "h2 Ready again", func() bool {
		nodes, _, _ := nodeLs(t, inv)
		return nodes["h2"].Status == "Ready"
	})
}

// fingerprint returns the SHA256 fingerprint of a known_hosts line's key.
func fingerprint(t *testing.T, line string) string {
	t.Helper()
	f := strings.Fields(line)
	key, _, _, _, err := gossh.ParseAuthorizedKey([]byte(strings.Join(f[1:], " ")))
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return gossh.FingerprintSHA256(key)
}

// withKnownHosts writes an inventory whose known_hosts is the given content.
func withKnownHosts(t *testing.T, content string) (inv, khPath string) {
	t.Helper()
	inv = copyInventory(t)
	khPath = filepath.Join(filepath.Dir(inv), "known_hosts")
	if err := os.WriteFile(khPath, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(inv)
	s := strings.Replace(string(b), "known_hosts: "+filepath.Join(lab(t).Dir, "known_hosts"), "known_hosts: "+khPath, 1)
	if s == string(b) {
		t.Fatalf("inventory has no known_hosts line to replace:\n%s", b)
	}
	os.WriteFile(inv, []byte(s), 0o644)
	return inv, khPath
}

func TestHostKeyChecking(t *testing.T) {
	l := lab(t)
	orig, err := os.ReadFile(filepath.Join(l.Dir, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	// The lines of the inventory's hosts (known_hosts also has the extra ones).
	var lines []string
	for _, ln := range strings.Split(strings.TrimSpace(string(orig)), "\n") {
		for _, h := range l.Hosts {
			if strings.HasPrefix(ln, h.Addr+" ") {
				lines = append(lines, ln)
			}
		}
	}
	if len(lines) != len(l.Hosts) {
		t.Fatalf("%s: %d lines for the %d hosts of the inventory", filepath.Join(l.Dir, "known_hosts"), len(lines), len(l.Hosts))
	}
	h3 := l.Host(t, "h3")

	t.Run("tampered", func(t *testing.T) {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		fake, _ := gossh.NewPublicKey(pub)
		fakeLine := h3.Addr + " " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(fake)))
		var kh []string
		var real string
		for _, ln := range lines {
			if strings.HasPrefix(ln, h3.Addr+" ") {
				real = ln
				ln = fakeLine
			}
			kh = append(kh, ln)
		}
		inv, _ := withKnownHosts(t, strings.Join(kh, "\n")+"\n")
		for _, accept := range []bool{false, true} {
			var extra []string
			if accept {
				extra = []string{"--accept-new-host-keys"} // never overrides a mismatch
			}
			nodes, stderr, _ := nodeLs(t, inv, extra...)
			if nodes["h3"].Status != "Down" || nodes["h3"].Reason != "host key mismatch" {
				t.Errorf("accept=%v: h3 = %+v", accept, nodes["h3"])
			}
			for _, want := range []string{"h3", fingerprint(t, fakeLine), fingerprint(t, real)} {
				if !strings.Contains(stderr, want) {
					t.Errorf("accept=%v: message lacks %q:\n%s", accept, want, stderr)
				}
			}
			if nodes["h1"].Status != "Ready" {
				t.Errorf("h1 not Ready: %+v", nodes["h1"])
			}
		}
	})

	t.Run("unknown", func(t *testing.T) {
		inv, kh := withKnownHosts(t, "")
		nodes, stderr, _ := nodeLs(t, inv)
		for _, h := range l.Hosts {
			if nodes[h.Name].Status != "Down" || nodes[h.Name].Reason != "host key unknown" {
				t.Errorf("%s = %+v", h.Name, nodes[h.Name])
			}
		}
		if !strings.Contains(stderr, "--accept-new-host-keys") || !strings.Contains(stderr, "SHA256:") {
			t.Errorf("no hint/fingerprint in:\n%s", stderr)
		}
		nodes, _, code := nodeLs(t, inv, "--accept-new-host-keys")
		for _, h := range l.Hosts {
			if nodes[h.Name].Status != "Ready" {
				t.Errorf("with --accept-new-host-keys %s = %+v (exit %d)", h.Name, nodes[h.Name], code)
			}
		}
		got, _ := os.ReadFile(kh)
		for _, ln := range lines {
			if !strings.Contains(string(got), strings.Fields(ln)[2]) {
				t.Errorf("key of %s not recorded in known_hosts:\n%s", strings.Fields(ln)[0], got)
			}
		}
		// Recorded keys now pass without the flag.
		nodes, _, _ = nodeLs(t, inv)
		if nodes["h3"].Status != "Ready" {
			t.Errorf("after recording, h3 = %+v", nodes["h3"])
		}
	})
}

// TestJumpHost reaches h3 only through h1: h3's address is given with a
// ProxyJump through h1.
func TestJumpHost(t *testing.T) {
	l := lab(t)
	inv := copyInventory(t)
	b, _ := os.ReadFile(inv)
	h3 := l.Host(t, "h3")
	h1 := l.Host(t, "h1")
	s := strings.Replace(string(b), "address: "+h3.Addr, "address: "+h3.Addr+"\n    ssh: {jump: root@"+h1.Addr+":22}", 1)
	os.WriteFile(inv, []byte(s), 0o644)
	// Prove the jump is used: cut h3 from the root namespace by blocking
	// its address here would need iptables; instead check sshd's log on h1
	// records the forwarding, and that it works.
	nodes, _, code := nodeLs(t, inv)
	if code != 0 || nodes["h3"].Status != "Ready" {
		t.Fatalf("h3 via jump: %+v (exit %d)", nodes["h3"], code)
	}
	// With the jump host down, h3 is unreachable although h3 itself is up.
	labCmd(t, "stop", "h1")
	t.Cleanup(func() { labCmd(t, "start", "h1") })
	nodes, _, _ = nodeLs(t, inv)
	if nodes["h3"].Status != "Down" {
		t.Errorf("h3 reachable with its jump host down: the jump was not used: %+v", nodes["h3"])
	}
	if nodes["h2"].Status != "Ready" {
		t.Errorf("h2 = %+v", nodes["h2"])
	}
}

// TestSSHConfigAlias gives h2's address as an alias defined only in an
// OpenSSH config file.
func TestSSHConfigAlias(t *testing.T) {
	l := lab(t)
	inv := copyInventory(t)
	dir := filepath.Dir(inv)
	h2 := l.Host(t, "h2")
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf("Host lab-second\n  HostName %s\n  User root\n  Port 22\n", h2.Addr)), 0o600)
	b, _ := os.ReadFile(inv)
	s := strings.Replace(string(b), "address: "+h2.Addr, "address: lab-second", 1)
	os.WriteFile(inv, []byte(s), 0o644)
	nodes, stderr, _ := nodeLs(t, inv, "--ssh-config", cfg)
	if nodes["h2"].Status != "Ready" {
		t.Fatalf("h2 through ssh config alias: %+v\n%s", nodes["h2"], stderr)
	}
	// Without the alias in the config, the name does not resolve.
	empty := filepath.Join(dir, "empty_config")
	os.WriteFile(empty, nil, 0o600)
	nodes, _, _ = nodeLs(t, inv, "--ssh-config", empty)
	if nodes["h2"].Status != "Down" {
		t.Errorf("alias resolved without the config: %+v", nodes["h2"])
	}
}
