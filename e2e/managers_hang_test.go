//go:build e2e

package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangStateFile makes a manager's SFTP side hang the way a stuck disk
// does: its state.json becomes a named pipe, so the SFTP server blocks in
// open() when drover reads it, and every later request of that session
// waits behind it. sshd and docker on the host keep working. The returned
// func unblocks the readers and removes the pipe.
func hangStateFile(t *testing.T, host, dir string) func() {
	t.Helper()
	p := filepath.Join(lab(t).Dir, host, "drover", strings.TrimPrefix(dir, "/var/lib/drover/"), "state.json")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Fatal(err)
	}
	done := false
	return func() {
		if done {
			return
		}
		done = true
		// Each blocked open returns once a writer opens the pipe; then
		// they read end of file. ENXIO: no reader left.
		for i := 0; i < 100; i++ {
			f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if errors.Is(err, syscall.ENXIO) {
				break
			}
			if err != nil {
				t.Errorf("unblock %s: %v", p, err)
				break
			}
			f.Close()
			time.Sleep(50 * time.Millisecond)
		}
		os.Remove(p)
	}
}

// TestManagersHungManager: one of three managers hangs (it accepts the
// connection but its SFTP requests never complete). Deploys still work,
// in about the time they take without it, and the manager is repaired
// once it answers again.
func TestManagersHungManager(t *testing.T) {
	ensureImages(t)
	inv, dir := managersInventory(t, "lab-hang")
	const stack = "e2ehang"
	cleanupStack(t, inv, stack)
	idir := filepath.Dir(inv)

	start := time.Now()
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 3), stack)
	healthy := time.Since(start)
	s1 := managerSerial(t, "h1", dir)

	unblock := hangStateFile(t, "h3", dir)
	t.Cleanup(unblock)
	start = time.Now()
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 4), stack)
	hung := time.Since(start)
	t.Logf("deploy: %s with every manager answering, %s with h3 hung", healthy.Round(time.Millisecond), hung.Round(time.Millisecond))
	if code != 0 {
		t.Fatalf("deploy with h3 hung: exit %d\n%s", code, stderr)
	}
	// Generous: the per-manager deadline is 10s and a run makes several
	// state operations; what must not happen is waiting on h3 for ever.
	if hung > 2*time.Minute {
		t.Errorf("deploy with h3 hung took %s", hung)
	}
	if !strings.Contains(stderr, "h3") || !strings.Contains(stderr, "manager unreachable") {
		t.Errorf("h3 not reported as unreachable:\n%s", stderr)
	}
	s2 := managerSerial(t, "h1", dir)
	if s2 <= s1 || managerSerial(t, "h2", dir) != s2 {
		t.Errorf("serials after the deploy with h3 hung: h1 %d h2 %d (before %d)", s2, managerSerial(t, "h2", dir), s1)
	}
	if n := len(stackContainers(t, stack)); n != 4 {
		t.Errorf("%d containers, want 4", n)
	}
	out := mustDrover(t, inv, "state", "history")
	if !strings.Contains(out, "deploy") {
		t.Errorf("history: %s", out)
	}

	// h3 answers again: the next run repairs its copy.
	unblock()
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, idir, 3), stack)
	s3 := managerSerial(t, "h1", dir)
	for _, h := range []string{"h2", "h3"} {
		if got := managerSerial(t, h, dir); got != s3 {
			t.Errorf("%s: serial %d, h1 %d", h, got, s3)
		}
	}
}
