//go:build e2e

package e2e

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sudoUserScript gives lab host h1 a non-root user, drsudo, allowed to run
// docker through sudo without a password. Only h1's mount namespace sees
// it: its /etc files are bind-mounted copies (h1's /tmp is its own).
const sudoUserScript = `set -e
u=drsudo
for f in passwd group shadow sudoers; do umount /etc/$f 2>/dev/null || true; done
for f in passwd group shadow; do cp /etc/$f /tmp/e2e-$f; done
echo "$u:x:1601:1601:e2e sudo user:/tmp:/bin/sh" >>/tmp/e2e-passwd
echo "$u:x:1601:" >>/tmp/e2e-group
echo "$u:*:19000:0:99999:7:::" >>/tmp/e2e-shadow
printf 'Defaults !fqdn\nroot ALL=(ALL:ALL) ALL\n%s ALL=(root) NOPASSWD: %s\n' "$u" "$(command -v docker)" >/tmp/e2e-sudoers
chmod 0440 /tmp/e2e-sudoers
for f in passwd group shadow sudoers; do touch /etc/$f; mount --bind /tmp/e2e-$f /etc/$f; done
`

const sudoUserUndo = `for f in passwd group shadow sudoers; do umount /etc/$f 2>/dev/null || true; done`

// TestSudoUser drives h1 as a non-root SSH user with ssh.sudo: true: the
// engine stream is `sudo -n docker system dial-stdio`. Without sudo the
// same user is refused by the engine's socket, which the host's reason
// says.
func TestSudoUser(t *testing.T) {
	l := lab(t)
	ensureImages(t)
	if _, err := exec.LookPath("sudo"); err != nil {
		missing(t, "sudo is not installed (scripts/lab.sh up installs it)")
	}
	labCmd(t, "exec", "h1", "sh", "-c", sudoUserScript)
	t.Cleanup(func() { labCmdErr(t, "exec", "h1", "sh", "-c", sudoUserUndo) })

	dir := t.TempDir()
	inventory := func(sudo bool) string {
		p := filepath.Join(dir, "inventory.yaml")
		content := fmt.Sprintf(`cluster: e2esudo
ssh:
  user: drsudo
  identity_file: %s
  known_hosts: %s
  connect_timeout: 2s
  sudo: %v
hosts:
  - name: h1
    address: %s
    role: manager
`, filepath.Join(l.Dir, "id_ed25519"), filepath.Join(l.Dir, "known_hosts"), sudo, l.Host(t, "h1").Addr)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	inv := inventory(false)
	nodes, _, _ := nodeLs(t, inv)
	if n := nodes["h1"]; n.Status == "Ready" || !strings.Contains(n.Reason, "permission denied") {
		t.Errorf("drsudo without sudo: status %s, reason %q; want Down for permission denied", n.Status, n.Reason)
	}

	inv = inventory(true)
	nodes, _, _ = nodeLs(t, inv)
	if n := nodes["h1"]; n.Status != "Ready" {
		t.Fatalf("drsudo with sudo: %s (%s)", n.Status, n.Reason)
	}
	const stack = "e2esudo"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  web:
    image: drover-test/app:v1
    environment:
      GREETING: "hello\nfrom sudo"
    ports:
      - "18096:8080"
    deploy:
      replicas: 1
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	cs := stackContainers(t, stack)
	if len(cs) != 1 || cs[0].State != "running" || cs[0].Host != "h1" {
		t.Fatalf("containers %v", cs)
	}
	var body string
	waitFor(t, 20*time.Second, "the replica to answer", func() bool {
		code, b, err := httpGet("http://"+l.Host(t, "h1").Addr+":18096/env?name="+url.QueryEscape("GREETING"), 2*time.Second)
		body = b
		return err == nil && code == 200
	})
	if body != "hello\nfrom sudo" {
		t.Errorf("GREETING = %q", body)
	}
	_, logs, code := runDrover(t, inv, "service", "logs", stack+"_web")
	if code != 0 || !strings.Contains(logs, "listening") {
		t.Errorf("service logs: exit %d, %q", code, logs)
	}
	if changes := mutations(t, func() { mustDrover(t, inv, "reconcile") }); len(changes) != 0 {
		t.Errorf("no-op reconcile changed %v", changes)
	}
	mustDrover(t, inv, "stack", "rm", stack)
	if cs := stackContainers(t, stack); len(cs) != 0 {
		t.Errorf("left after stack rm: %v", cs)
	}
}
