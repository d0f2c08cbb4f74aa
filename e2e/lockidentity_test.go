//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lockFile is the part of the local lock file this test looks at.
type lockFile struct {
	PID       int    `json:"pid"`
	Machine   string `json:"machine"`
	MachineID string `json:"machine_id"`
	BootID    string `json:"boot_id"`
	PIDNS     string `json:"pid_ns"`
	StartTime uint64 `json:"start_time"`
}

func readLock(t *testing.T, path string) (lockFile, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var l lockFile
	var raw map[string]any
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &raw)
	return l, raw
}

// droverInNamespace runs drover as on another machine with this machine's
// host name: new mount, UTS and PID namespaces, the same host name set
// again, and, when machineID is not empty, another /etc/machine-id bind
// mounted over the real one. The PID namespace makes the holder's PID
// invisible, as it is from another machine or container.
func droverInNamespace(t *testing.T, inv, machineID string, args ...string) (stderr string, code int) {
	t.Helper()
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	idFile := ""
	if machineID != "" {
		idFile = filepath.Join(t.TempDir(), "machine-id")
		os.WriteFile(idFile, []byte(machineID+"\n"), 0o444)
	}
	script := `hostname "$1" && if [ -n "$2" ]; then mount --bind "$2" /etc/machine-id; fi && shift 2 && exec "$@"`
	full := append([]string{"--mount", "--uts", "--pid", "--fork", "--mount-proc", "sh", "-c", script, "sh", host, idFile, droverBin(t)},
		append(droverInventoryArgs(inv), args...)...)
	cmd := exec.Command("unshare", full...)
	cmd.Dir = filepath.Dir(inv)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Logf("drover in namespaces (machine-id %q) %v → %d\n%s", machineID, args, code, clip(out.String()))
	return out.String(), code
}

// TestLockIdentity: a run from a "machine" with the same host name but
// another identity neither takes over a live lock nor judges the PID of a
// dead one; the holder's own machine takes over a dead holder's lock at
// once, and a PID reused by another process does not keep a lock alive.
func TestLockIdentity(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-lockid")
	const stack = "e2elockid"
	cleanupStack(t, inv, stack)
	dir := filepath.Dir(inv)
	lockPath := filepath.Join(dir, "drover.state.json.lock")
	// slowStack changes every replica (a new env value) one at a time with
	// a 2s monitor: a deploy of it holds the lock for several seconds.
	slowStack := func(round int) string {
		p := filepath.Join(dir, fmt.Sprintf("slow-%d.yml", round))
		os.WriteFile(p, []byte(fmt.Sprintf("services:\n  app:\n    image: drover-test/app:nohc\n    environment: {ROUND: \"%d\"}\n    deploy:\n      replicas: 3\n      update_config: {parallelism: 1, monitor: 2s}\n", round)), 0o644)
		return p
	}
	var holderOut *strings.Builder // the output of the last holder
	// startHolder starts such a deploy and stops it (SIGSTOP) once it holds
	// the lock: a live process holding a live lock for as long as we need.
	startHolder := func(round int) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(droverBin(t), append(droverInventoryArgs(inv), "stack", "deploy", "-c", slowStack(round), stack)...)
		cmd.Dir = dir
		out := &strings.Builder{}
		cmd.Stdout, cmd.Stderr = out, out
		holderOut = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf(`"pid":%d,`, cmd.Process.Pid)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if b, err := os.ReadFile(lockPath); err == nil && strings.Contains(string(b), want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the holder did not take the lock within 30s")
			}
		}
		cmd.Process.Signal(syscall.SIGSTOP)
		return cmd
	}

	mustDrover(t, inv, "stack", "deploy", "-c", slowStack(0), stack)
	holder := startHolder(1)
	lk, raw := readLock(t, lockPath)
	for _, k := range []string{"machine_id", "boot_id", "pid_ns", "start_time"} {
		if raw[k] == nil || raw[k] == "" {
			t.Errorf("lock file has no %s: %v", k, raw)
		}
	}
	host, _ := os.Hostname()
	if lk.Machine != host {
		t.Errorf("lock machine %q, want the host name %q", lk.Machine, host)
	}

	// Same host name, other machine ID, holder alive (and its PID invisible
	// there): refused at once, naming the holder.
	stderr, code := droverInNamespace(t, inv, "0123456789abcdef0123456789abcdef", "reconcile")
	if code != 1 || !strings.Contains(stderr, "locked by") || !strings.Contains(stderr, fmt.Sprintf("pid %d on %s [machine %s]", lk.PID, host, lk.MachineID[:8])) {
		t.Errorf("other machine, same host name: exit %d\n%s", code, stderr)
	}
	// With a lock timeout it waits, then fails the same way.
	start := time.Now()
	stderr, code = droverInNamespace(t, inv, "0123456789abcdef0123456789abcdef", "--lock-timeout", "3s", "reconcile")
	if code != 1 || !strings.Contains(stderr, "locked by") || time.Since(start) < 3*time.Second {
		t.Errorf("other machine, --lock-timeout 3s: exit %d after %s\n%s", code, time.Since(start), stderr)
	}
	// Same machine ID, other PID namespace (a container of this machine):
	// it cannot see the holder's PID either, so it does not judge it.
	stderr, code = droverInNamespace(t, inv, "", "reconcile")
	if code != 1 || !strings.Contains(stderr, "locked by") {
		t.Errorf("other PID namespace: exit %d\n%s", code, stderr)
	}
	if now, _ := readLock(t, lockPath); now.PID != lk.PID {
		t.Fatalf("the live lock was taken over: holder now pid %d", now.PID)
	}
	// Continued, the holder still owns its lock and removes it when done.
	// (Whether its deploy succeeds depends on where it was stopped: SSH
	// dials that were under way time out meanwhile.)
	holder.Process.Signal(syscall.SIGCONT)
	err := holder.Wait()
	t.Logf("the holder, continued, ended: %v\n%s", err, holderOut)
	if strings.Contains(holderOut.String(), "lock lost") {
		t.Errorf("the holder lost its lock")
	}
	if _, err := os.Stat(lockPath); err == nil {
		t.Errorf("the holder's lock was left behind (or replaced)")
	}

	// A holder killed while holding the lock (not expired).
	holder = startHolder(2)
	lk, _ = readLock(t, lockPath)
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	// Another machine cannot know it died: it waits for the expiry.
	if stderr, code := droverInNamespace(t, inv, "0123456789abcdef0123456789abcdef", "reconcile"); code != 1 || !strings.Contains(stderr, "locked by") {
		t.Errorf("other machine, dead holder: exit %d\n%s", code, stderr)
	}
	// Its PID reused by another process (same PID, another start time):
	// still gone. The lock file is pointed at a live sleep to stand for
	// the reuse.
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	b, _ := os.ReadFile(lockPath)
	reused := strings.Replace(string(b), fmt.Sprintf(`"pid":%d,`, lk.PID), fmt.Sprintf(`"pid":%d,`, sleeper.Process.Pid), 1)
	if reused == string(b) {
		t.Fatal("could not point the lock at another pid")
	}
	os.WriteFile(lockPath, []byte(reused), 0o600)
	// This machine takes it over at once, without --lock-timeout.
	start = time.Now()
	_, stderr, code = runDrover(t, inv, "reconcile")
	if code != 0 || !strings.Contains(stderr, "taking over the state lock") {
		t.Errorf("same machine, reused pid: exit %d\n%s", code, stderr)
	}
	// And a plainly dead PID is taken over at once too.
	holder = startHolder(3)
	holder.Process.Signal(syscall.SIGKILL)
	holder.Wait()
	_, stderr, code = runDrover(t, inv, "reconcile")
	if code != 0 || !strings.Contains(stderr, "taking over the state lock") {
		t.Errorf("same machine, dead holder: exit %d\n%s", code, stderr)
	}
	if _, err := os.Stat(lockPath); err == nil {
		t.Error("a lock file was left behind")
	}
}
