//go:build e2e

package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounded waits (issue 8, item 4): a black-hole host behind a jump host,
// a stuck dockerd, and SIGTERM while a dial hangs.

// stopProcess sends SIGSTOP to the process of host whose pid lab.sh exec
// prints with pidCmd (a shell command run in the host's namespaces), and
// SIGCONT when the test ends.
func stopProcess(t *testing.T, host, pidCmd string) {
	t.Helper()
	pid := strings.TrimSpace(labCmd(t, "exec", host, "sh", "-c", pidCmd))
	if pid == "" || strings.ContainsAny(pid, " \n") {
		t.Fatalf("%s: %q printed %q, want one pid", host, pidCmd, pid)
	}
	t.Cleanup(func() { labCmd(t, "exec", host, "kill", "-CONT", pid) })
	labCmd(t, "exec", host, "kill", "-STOP", pid)
}

// blackHoleBehindJump rewrites inv so that h3 is reached through h1 with
// the given connect_timeout, and stops h3's sshd: the kernel still
// accepts TCP connections into the listen backlog, but no SSH banner ever
// comes.
func blackHoleBehindJump(t *testing.T, inv, connectTimeout string) {
	t.Helper()
	l := lab(t)
	h1, h3 := l.Host(t, "h1"), l.Host(t, "h3")
	b, _ := os.ReadFile(inv)
	s := strings.Replace(string(b), "address: "+h3.Addr,
		"address: "+h3.Addr+"\n    ssh: {jump: root@"+h1.Addr+":22, connect_timeout: "+connectTimeout+"}", 1)
	if err := os.WriteFile(inv, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	stopProcess(t, "h3", "cat /run/sshd.pid")
}

func TestBlackHoleBehindJumpHost(t *testing.T) {
	inv := copyInventory(t)
	const connectTimeout = 3 * time.Second
	blackHoleBehindJump(t, inv, connectTimeout.String())

	start := time.Now()
	nodes, stderr, _ := nodeLs(t, inv)
	took := time.Since(start)
	t.Logf("node ls with a black-hole host (connect_timeout %v): %v", connectTimeout, took.Round(time.Millisecond))
	if took > connectTimeout+time.Second {
		t.Errorf("node ls took %v, want at most connect_timeout + 1s = %v", took, connectTimeout+time.Second)
	}
	if n := nodes["h3"]; n.Status != "Down" || n.Reason != "timeout" {
		t.Errorf("h3 = %+v, want Down (timeout)\n%s", n, stderr)
	}
	for _, h := range []string{"h1", "h2"} {
		if nodes[h].Status != "Ready" {
			t.Errorf("%s = %+v, want Ready", h, nodes[h])
		}
	}
}

// TestSIGTERMEndsHungRun: SIGTERM ends a run whose dial of a black hole
// would otherwise wait a whole minute.
func TestSIGTERMEndsHungRun(t *testing.T) {
	inv := copyInventory(t)
	blackHoleBehindJump(t, inv, "60s")
	for _, args := range [][]string{{"node", "ls"}, {"reconcile"}} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(droverBin(t), append([]string{"--inventory", inv}, args...)...)
			cmd.Dir = filepath.Dir(inv)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			time.Sleep(1500 * time.Millisecond) // h1 and h2 answered; h3 hangs
			sent := time.Now()
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("drover %s still running 10s after SIGTERM\n%s", args[0], stderr.String())
			}
			took := time.Since(sent)
			t.Logf("drover %s exited %d, %v after SIGTERM", args[0], cmd.ProcessState.ExitCode(), took.Round(time.Millisecond))
			if took > 3*time.Second {
				t.Errorf("exit took %v after SIGTERM, want a few seconds at most", took)
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit code %d, want 130\n%s", code, stderr.String())
			}
		})
	}
	// The interrupted reconcile released its lock.
	if out := mustDrover(t, inv, "lock", "status"); !strings.Contains(out, "unlocked") {
		t.Errorf("lock left behind: %s", out)
	}
}

// TestStuckDockerd: h2's dockerd is stopped (it accepts the CLI's
// connection and never answers). A deploy marks h2 failed within the read
// timeout, places everything on h1 and h3, and releases the lock.
func TestStuckDockerd(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const readTimeout = 3 * time.Second
	b, _ := os.ReadFile(inv)
	s := strings.Replace(string(b), "ssh:\n", "ssh:\n  read_timeout: "+readTimeout.String()+"\n", 1)
	os.WriteFile(inv, []byte(s), 0o644)
	const stack = "e2estuck"
	cleanupStack(t, inv, stack)
	file := filepath.Join(filepath.Dir(inv), "stuck.yml")
	os.WriteFile(file, []byte("services:\n  app:\n    image: drover-test/app:nohc\n    deploy:\n      replicas: 4\n"), 0o644)

	stopProcess(t, "h2", "pidof dockerd") // runs before cleanupStack's cleanup
	start := time.Now()
	out, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", file, stack)
	took := time.Since(start)
	t.Logf("deploy with a stuck dockerd on h2: exit %d in %v", code, took.Round(time.Millisecond))
	if took > readTimeout+30*time.Second {
		t.Errorf("deploy took %v with a read timeout of %v", took, readTimeout)
	}
	if want := "docker did not answer within " + readTimeout.String(); !strings.Contains(out+stderr, want) {
		t.Errorf("output does not say %q", want)
	}
	if !strings.Contains(out+stderr, "h2") {
		t.Error("output does not name h2")
	}
	if out := mustDrover(t, inv, "lock", "status"); !strings.Contains(out, "unlocked") {
		t.Errorf("lock left behind: %s", out)
	}

	// Let h2 answer again before looking at the engines directly.
	pid := strings.TrimSpace(labCmd(t, "exec", "h2", "pidof", "dockerd"))
	labCmd(t, "exec", "h2", "kill", "-CONT", pid)
	counts := perHost(stackContainers(t, stack), stack+"_app")
	if counts["h2"] != 0 || counts["h1"]+counts["h3"] != 4 {
		t.Errorf("replicas per host %v, want 4 on h1 and h3, none on h2", counts)
	}
}

// accepted counts the SSH logins h's sshd has logged.
func accepted(t *testing.T, host string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(lab(t).Dir, host, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Accepted publickey")
}

// TestConnectionDiesMidRun kills h2's SSH connection (its sshd session
// process) while a deploy creates containers there. The run redials h2
// once; a change that was in flight is reported as possibly run, not
// retried, and the next deploy converges.
func TestConnectionDiesMidRun(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eredial"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "many.yml")
	before := accepted(t, "h2")

	cmd := exec.Command(droverBin(t), "--inventory", inv, "stack", "deploy", "-c", file, stack)
	cmd.Dir = filepath.Dir(inv)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	killed := false
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !killed; time.Sleep(20 * time.Millisecond) {
		if out, _ := hostDockerErr(t, "h2", "ps", "-aq", "--filter", "label=drover.stack="+stack); out != "" {
			labCmd(t, "exec", "h2", "sh", "-c", `pkill -KILL -P "$(cat /run/sshd.pid)"`)
			killed = true
		}
	}
	if !killed {
		t.Fatal("no container of the stack appeared on h2")
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("deploy hung after its connection to h2 died\n%s", stderr.String())
	}
	code := cmd.ProcessState.ExitCode()
	t.Logf("deploy exited %d after h2's connection was killed\n%s", code, clip(stderr.String()))
	if n := accepted(t, "h2") - before; n != 2 {
		t.Errorf("%d SSH logins on h2 during the run, want 2 (the dial and one redial)", n)
	}
	if code != 0 && !strings.Contains(stderr.String(), "connection lost while the command ran (it may have run)") {
		t.Errorf("deploy failed without saying a change may have run")
	}

	// Commands the dead sessions had started finish on h2 on their own.
	time.Sleep(3 * time.Second)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	slots := map[string]int{}
	for _, c := range stackContainers(t, stack) {
		if c.State == "running" {
			slots[c.Slot]++
		}
	}
	if len(slots) != 12 {
		t.Errorf("%d distinct running slots after the second deploy, want 12: %v", len(slots), slots)
	}
	for s, n := range slots {
		if n != 1 {
			t.Errorf("slot %s has %d running containers", s, n)
		}
	}
}
