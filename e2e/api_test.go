//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeStack writes a compose file into a fresh directory.
func writeStack(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "compose.yml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// healthOf returns each container's health status and its healthcheck
// test as the engine holds it.
// waitAllHealthy waits until the stack has n replicas, all healthy.
func waitAllHealthy(t *testing.T, stack string, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d replicas of %s healthy", n, stack), func() bool {
		hs := healthOf(t, stack)
		if len(hs) != n {
			return false
		}
		for _, h := range hs {
			if !strings.HasPrefix(h, "healthy ") {
				return false
			}
		}
		return true
	})
}

func healthOf(t *testing.T, stack string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range stackContainers(t, stack) {
		s := hostDocker(t, c.Host, "inspect", "--format", `{{.State.Health.Status}} {{json .Config.Healthcheck.Test}}`, c.ID)
		out[c.Name] = s
	}
	return out
}

// TestExecHealthcheckInScratchImage: a CMD healthcheck stays exec form,
// so a FROM-scratch image (no /bin/sh) turns healthy.
func TestExecHealthcheckInScratchImage(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eexechc"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  probe:
    image: drover-test/app:nohc
    healthcheck:
      test: ["CMD", "/app", "-check", "http://127.0.0.1:8080/health"]
      interval: 1s
      retries: 2
    deploy:
      replicas: 3
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	waitAllHealthy(t, stack, 3)
	for name, h := range healthOf(t, stack) {
		if !strings.HasSuffix(h, `["CMD","/app","-check","http://127.0.0.1:8080/health"]`) {
			t.Errorf("%s: healthcheck %s, want the exec form as written", name, h)
		}
	}
}

// TestEnvironmentByteForByte sends a value with $, quotes, backslashes, a
// newline and non-ASCII text, and reads it back from inside the replica.
func TestEnvironmentByteForByte(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eenv"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  web:
    image: drover-test/app:v1
    environment:
      TRICKY: "a$$b $${HOME} \"dq\" 'sq' back\\slash\nsecond line é ü 日本 ✓"
    ports:
      - "18095:8080"
    deploy:
      replicas: 1
      placement:
        constraints: [node.hostname == h1]
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	want := "a$b ${HOME} \"dq\" 'sq' back\\slash\nsecond line é ü 日本 ✓"
	var got string
	waitFor(t, 20*time.Second, "the replica to answer", func() bool {
		code, body, err := httpGet("http://"+lab(t).Host(t, "h1").Addr+":18095/env?name="+url.QueryEscape("TRICKY"), 2*time.Second)
		got = body
		return err == nil && code == 200
	})
	if got != want {
		t.Errorf("TRICKY arrived as %q, want %q", got, want)
	}
	// Nothing of the value on a host's process list or in drover's debug log.
	_, stderr, code := runDrover(t, inv, "--log-level", "debug", "reconcile")
	if code != 0 {
		t.Fatalf("reconcile: exit %d", code)
	}
	if strings.Contains(stderr, "second line") {
		t.Error("the debug log holds an environment value")
	}
}

// TestStreamLocalTransport reaches the engines through sshd's
// direct-streamlocal channels instead of `docker system dial-stdio`.
func TestStreamLocalTransport(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	b, _ := os.ReadFile(inv)
	os.WriteFile(inv, append(b, []byte("docker:\n  transport: streamlocal\n")...), 0o644)
	const stack = "e2esl"
	cleanupStack(t, inv, stack)
	nodes, _, code := nodeLs(t, inv)
	if code != 0 || len(nodes) != len(lab(t).Hosts) {
		t.Fatalf("node ls: exit %d, %d nodes", code, len(nodes))
	}
	for name, n := range nodes {
		if n.Status != "Ready" {
			t.Errorf("%s: %s", name, n.Status)
		}
	}
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "three.yml"), stack)
	if n := len(stackContainers(t, stack)); n != 9 {
		t.Errorf("%d containers, want 9", n)
	}
	var out string
	changes := mutations(t, func() { out = mustDrover(t, inv, "reconcile") })
	if len(changes) != 0 {
		t.Errorf("a no-op reconcile changed %v\n%s", changes, out)
	}

	// A socket that is not there: the host is Down, the others are not.
	os.WriteFile(inv, append(b, []byte("docker:\n  transport: streamlocal\n  socket: /run/nothing.sock\n")...), 0o644)
	nodes, _, _ = nodeLs(t, inv)
	for name, n := range nodes {
		if n.Status == "Ready" {
			t.Errorf("%s is Ready through a socket that does not exist", name)
		}
	}
}

// TestServiceLogsFollowInterrupt follows replicas on three hosts and stops
// on Ctrl-C.
func TestServiceLogsFollowInterrupt(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2elogs"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  web:
    image: drover-test/app:nohc
    deploy:
      replicas: 3
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	hosts := map[string]bool{}
	for _, c := range stackContainers(t, stack) {
		hosts[c.Host] = true
	}
	if len(hosts) != 3 {
		t.Fatalf("replicas on %d hosts, want 3", len(hosts))
	}
	cmd := exec.Command(droverBin(t), "--inventory", inv, "service", "logs", "-f", stack+"_web")
	cmd.Dir = filepath.Dir(inv)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		// The test app logs on stderr: its lines must come out on
		// drover's stderr (the engine's stream is demultiplexed).
		for _, c := range []string{".1@", ".2@", ".3@"} {
			if strings.Contains(stderr.String(), stack+"_web"+c) {
				n++
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no log lines of the three replicas within 20s\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(stdout.String(), "listening") {
		t.Errorf("the replicas' stderr reached drover's stdout: %s", stdout.String())
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		t.Logf("exited %s after Ctrl-C", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("service logs -f still running 10s after Ctrl-C\nstderr: %s", stderr.String())
	}
}

// TestUpgradeFromCLIDrover deploys with a drover built from the previous
// main (DROVER_OLD_BIN), then deploys the same files and reconciles with
// this one: nothing may be replaced.
func TestUpgradeFromCLIDrover(t *testing.T) {
	old := os.Getenv("DROVER_OLD_BIN")
	if old == "" {
		why := os.Getenv("DROVER_OLD_BIN_UNAVAILABLE")
		if why == "" {
			why = "DROVER_OLD_BIN not set (a drover built from the previous main; scripts/test.sh builds it)"
		}
		missing(t, "no drover of before the Engine API to upgrade from: %s", why)
	}
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eupgrade"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "three.yml")
	oldRun := exec.Command(old, "--inventory", inv, "stack", "deploy", "-c", file, stack)
	oldRun.Dir = filepath.Dir(inv)
	if out, err := oldRun.CombinedOutput(); err != nil {
		t.Fatalf("old drover: %v\n%s", err, out)
	}
	before := stackContainers(t, stack)
	if len(before) != 9 {
		t.Fatalf("old drover made %d containers, want 9", len(before))
	}
	var deployOut, reconcileOut string
	changes := mutations(t, func() {
		deployOut = mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
		reconcileOut = mustDrover(t, inv, "reconcile")
	})
	if len(changes) != 0 {
		t.Errorf("upgrading changed %v\n%s\n%s", changes, deployOut, reconcileOut)
	}
	after := stackContainers(t, stack)
	if len(after) != len(before) {
		t.Fatalf("%d containers after, %d before", len(after), len(before))
	}
	for i := range before {
		if before[i].ID != after[i].ID {
			t.Errorf("%s replaced", before[i].Name)
		}
	}
	var ps []struct {
		Name     string `json:"name"`
		UpToDate bool   `json:"up_to_date"`
	}
	out := mustDrover(t, inv, "--output", "json", "stack", "ps", stack)
	if err := json.Unmarshal([]byte(out), &ps); err != nil || len(ps) != 9 {
		t.Fatalf("stack ps: %v, %d rows", err, len(ps))
	}
	for _, r := range ps {
		if !r.UpToDate {
			t.Errorf("replica %s not up to date after the upgrade", r.Name)
		}
	}
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// hideDockerCLI makes `docker` on h1 behave as on a host without it (the
// shell's "not found", exit 127), in h1's mount namespace only; the engine
// keeps running.
const hideDockerCLI = `set -e
d=$(command -v docker)
umount "$d" 2>/dev/null || true
printf '#!/bin/sh\necho "sh: 1: docker: not found" >&2\nexit 127\n' >/tmp/e2e-nodocker
chmod 0755 /tmp/e2e-nodocker
mount --bind /tmp/e2e-nodocker "$d"
`

const showDockerCLI = `umount "$(command -v docker)" 2>/dev/null || true`

// TestStreamLocalWithoutDockerCLI: on a host without the docker CLI,
// dial-stdio reports "docker not installed" while streamlocal runs a
// deploy there as usual.
func TestStreamLocalWithoutDockerCLI(t *testing.T) {
	ensureImages(t)
	labCmd(t, "exec", "h1", "sh", "-c", hideDockerCLI)
	t.Cleanup(func() { labCmdErr(t, "exec", "h1", "sh", "-c", showDockerCLI) })

	inv := copyInventory(t)
	nodes, _, _ := nodeLs(t, inv)
	if n := nodes["h1"]; n.Status == "Ready" || n.Reason != "docker not installed" {
		t.Errorf("h1 without docker CLI over dial-stdio: %s (%q), want Down: docker not installed", n.Status, n.Reason)
	}
	if n := nodes["h2"]; n.Status != "Ready" {
		t.Errorf("h2: %s (%s)", n.Status, n.Reason)
	}

	b, _ := os.ReadFile(inv)
	os.WriteFile(inv, append(b, []byte("docker:\n  transport: streamlocal\n")...), 0o644)
	nodes, _, _ = nodeLs(t, inv)
	if n := nodes["h1"]; n.Status != "Ready" {
		t.Fatalf("h1 over streamlocal: %s (%s)", n.Status, n.Reason)
	}
	const stack = "e2enocli"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  web:
    image: drover-test/app:nohc
    deploy:
      replicas: 2
      placement:
        constraints: [node.hostname == h1]
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	running := 0
	for _, c := range stackContainers(t, stack) {
		if c.Host == "h1" && c.State == "running" {
			running++
		}
	}
	if running != 2 {
		t.Errorf("%d replicas running on h1, want 2", running)
	}
}
