//go:build e2e

package e2e

import (
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// scaledFile writes heal.yml with another replica count.
func scaledFile(t *testing.T, dir string, n int) string {
	t.Helper()
	b, err := os.ReadFile(stackFile(t, "heal.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("heal-%d.yml", n))
	os.WriteFile(p, []byte(strings.Replace(string(b), "replicas: 6", fmt.Sprintf("replicas: %d", n), 1)), 0o644)
	return p
}

// TestConcurrentRuns: five deploys and reconciles at once are serialised by
// the lock; serials strictly increase and the final set of containers is
// what the last recorded run wanted.
func TestConcurrentRuns(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-conc")
	const stack = "e2econc"
	cleanupStack(t, inv, stack)
	dir := filepath.Dir(inv)
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, dir, 3), stack)

	runs := [][]string{
		{"stack", "deploy", "-c", scaledFile(t, dir, 4), stack},
		{"reconcile"},
		{"stack", "deploy", "-c", scaledFile(t, dir, 5), stack},
		{"reconcile"},
		{"service", "scale", stack + "_app=2"},
	}
	var wg sync.WaitGroup
	codes := make([]int, len(runs))
	errs := make([]string, len(runs))
	for i, args := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i], codes[i] = runDrover(t, inv, append([]string{"--lock-timeout", "3m"}, args...)...)
		}()
	}
	wg.Wait()
	for i := range runs {
		if codes[i] != 0 {
			t.Errorf("%v: exit %d\n%s", runs[i], codes[i], errs[i])
		}
	}
	s := readStateFile(t, inv)
	for i := 1; i < len(s.History); i++ {
		if s.History[i].Serial <= s.History[i-1].Serial {
			t.Errorf("serials not strictly increasing: %v", s.History)
		}
	}
	want := s.Stacks[stack].Services["app"].Current.Replicas
	slotsOK(t, stackContainers(t, stack), want)
	// Nothing left to do.
	if out, _, code := runDrover(t, inv, "reconcile", "--detailed-exitcode"); code != 0 {
		t.Errorf("not converged: exit %d\n%s", code, out)
	}
	// Without a lock timeout, a held lock is reported at once with its holder.
	holder := exec.Command(droverBin(t), "--inventory", inv, "stack", "deploy", "-c", scaledFile(t, dir, 7), stack)
	holder.Dir = dir
	holder.Start()
	defer holder.Wait()
	waitFor(t, 20*time.Second, "the lock taken", func() bool {
		_, err := os.Stat(filepath.Join(dir, "drover.state.json.lock"))
		return err == nil
	})
	_, stderr, code := runDrover(t, inv, "reconcile")
	if code != 1 || !strings.Contains(stderr, "locked by") || !strings.Contains(stderr, "stack deploy") {
		t.Errorf("run against a held lock: exit %d\n%s", code, stderr)
	}
}

// TestKilledRunsConverge kills ten runs at random moments of their apply;
// after each, reconcile converges with no duplicate and no orphan.
func TestKilledRunsConverge(t *testing.T) {
	ensureImages(t)
	inv := ownCluster(t, "lab-kill")
	const stack = "e2ekills"
	cleanupStack(t, inv, stack)
	dir := filepath.Dir(inv)
	mustDrover(t, inv, "stack", "deploy", "-c", scaledFile(t, dir, 3), stack)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for i := 0; i < 10; i++ {
		n := []int{3, 8}[i%2]
		cmd := exec.Command(droverBin(t), "--inventory", inv, "stack", "deploy", "-c", scaledFile(t, dir, n), stack)
		cmd.Dir = dir
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(200+rng.Intn(1800)) * time.Millisecond
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// Commands the killed run had started on the hosts still land.
		time.Sleep(3 * time.Second)
		_, stderr, code := runDrover(t, inv, "reconcile")
		if code != 0 {
			t.Fatalf("run %d (killed after %s): reconcile exit %d\n%s", i, delay, code, stderr)
		}
		want := readStateFile(t, inv).Stacks[stack].Services["app"].Current.Replicas
		cs := stackContainers(t, stack)
		slotsOK(t, cs, want)
		if len(cs) != want {
			t.Errorf("run %d (killed after %s): %d containers for %d replicas: %v", i, delay, len(cs), want, cs)
		}
		if _, err := os.Stat(filepath.Join(dir, "drover.state.json.lock")); err == nil {
			t.Errorf("run %d: a lock file was left behind by reconcile", i)
		}
	}
	// The state file is intact JSON after all that.
	readStateFile(t, inv)
}
