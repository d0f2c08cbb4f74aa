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
