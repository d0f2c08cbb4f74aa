//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// replicaImages counts a service's running containers per image, straight
// from the engines; healthy counts only those docker reports healthy.
func replicaImages(t testing.TB, service string, healthyOnly bool) map[string]int {
	t.Helper()
	m := map[string]int{}
	for _, h := range lab(t).Hosts {
		args := []string{"ps", "--filter", "label=drover.service=" + service, "--format", "{{.Image}}"}
		if healthyOnly {
			args = append(args, "--filter", "health=healthy")
		}
		out, err := hostDockerErr(t, h.Name, args...)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(out, "\n") {
			if l != "" {
				m[l]++
			}
		}
	}
	return m
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// deployEnv runs stack deploy with extra environment for interpolation.
func deployEnv(t *testing.T, inv, file, stack string, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	for k, v := range env {
		os.Setenv(k, v)
	}
	defer func() {
		for k := range env {
			os.Unsetenv(k)
		}
	}()
	return runDrover(t, inv, append([]string{"stack", "deploy", "-c", file}, append(args, stack)...)...)
}

type historyJSON struct {
	Generation int
	Current    bool
	Image      string
	Result     string
}

func serviceHistory(t *testing.T, inv, service string) []historyJSON {
	t.Helper()
	out := mustDrover(t, inv, "--output", "json", "service", "history", service)
	var h []historyJSON
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		t.Fatal(err, out)
	}
	return h
}

func TestRollingUpdate(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eroll"
	svc := stack + "_api"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "rolling.yml")

	// 1. Six replicas of v1, healthy.
	if _, _, code := deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v1"}); code != 0 {
		t.Fatalf("deploy v1: exit %d", code)
	}
	waitFor(t, 60*time.Second, "6 healthy v1 replicas", func() bool {
		return replicaImages(t, svc, true)["drover-test/app:v1"] == 6
	})

	// 2. v2, start-first, parallelism 3: never fewer than 6 healthy.
	var mu sync.Mutex
	minHealthy, samples := 1<<30, 0
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			n := total(replicaImages(t, svc, true))
			mu.Lock()
			minHealthy = min(minHealthy, n)
			samples++
			mu.Unlock()
		}
	}()
	start := time.Now()
	_, _, code := deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v2"})
	took := time.Since(start)
	close(stop)
	<-done
	if code != 0 {
		t.Fatalf("update to v2: exit %d", code)
	}
	if got := replicaImages(t, svc, false); got["drover-test/app:v2"] != 6 || total(got) != 6 {
		t.Errorf("after the update: %v, want 6 × v2", got)
	}
	t.Logf("v1 → v2: %s, %d samples, at least %d healthy", took, samples, minHealthy)
	if minHealthy < 6 {
		t.Errorf("only %d healthy replicas at some point during a start-first update", minHealthy)
	}

	// 3. v3 fails its health check: detected in the first batch, rolled
	// back to v2 with rollback_config.
	start = time.Now()
	_, stderr, code := deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v3-bad"})
	t.Logf("failed update + rollback took %s", time.Since(start))
	if code == 0 {
		t.Errorf("a rolled-back update must exit non-zero")
	}
	if !strings.Contains(stderr, "rollback completed") || !strings.Contains(stderr, "unhealthy") {
		t.Errorf("stderr does not explain the rollback:\n%s", stderr)
	}
	if got := replicaImages(t, svc, true); got["drover-test/app:v2"] != 6 || total(got) != 6 {
		t.Errorf("after rollback: %v, want 6 healthy v2", got)
	}
	if got := replicaImages(t, svc, false); got["drover-test/app:v3-bad"] != 0 {
		t.Errorf("v3 containers left: %v", got)
	}
	h := serviceHistory(t, inv, svc)
	var v3 *historyJSON
	for i := range h {
		if h[i].Image == "drover-test/app:v3-bad" {
			v3 = &h[i]
		}
		if h[i].Current && h[i].Image != "drover-test/app:v2" {
			t.Errorf("current generation is %s, want v2 after the rollback", h[i].Image)
		}
	}
	if v3 == nil || !strings.Contains(v3.Result, "rolled back") {
		t.Errorf("history does not show v3 rolled back: %+v", h)
	}
	// The next deploy of the same (v2) files is a no-op.
	if _, _, code := deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v2"}, "--detailed-exitcode"); code != 0 {
		t.Errorf("redeploy of v2 after the rollback: exit %d, want 0", code)
	}

	// 4. The same with failure_action pause: stops after the first batch.
	_, stderr, code = deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v3-bad", "FAILURE_ACTION": "pause"})
	if code == 0 || !strings.Contains(stderr, "paused") {
		t.Errorf("paused update: exit %d\n%s", code, stderr)
	}
	out := mustDrover(t, inv, "service", "ps", svc)
	if !strings.Contains(out, "update paused") || !strings.Contains(out, "unhealthy") {
		t.Errorf("service ps does not say paused and why:\n%s", out)
	}
	var sj []struct {
		Update string `json:"update_state"`
	}
	json.Unmarshal([]byte(mustDrover(t, inv, "--output", "json", "stack", "services", stack)), &sj)
	if len(sj) != 1 || sj[0].Update != "paused" {
		t.Errorf("stack services: %+v", sj)
	}
	if got := replicaImages(t, svc, false); got["drover-test/app:v2"] != 6 {
		t.Errorf("start-first pause should leave the 6 v2 replicas: %v", got)
	}
	// The next deploy replaces the paused update.
	if _, _, code := deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v2"}); code != 0 {
		t.Errorf("deploy after a paused update: exit %d", code)
	}
	out = mustDrover(t, inv, "service", "ps", svc)
	if strings.Contains(out, "paused") {
		t.Errorf("still paused after a new deploy:\n%s", out)
	}
}

// TestUpdateFailures: an image that exits at once is caught within the
// monitor window; replicas that never become healthy end the update at
// x-drover.update_timeout.
func TestUpdateFailures(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2efail"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "rolling.yml")
	svc := stack + "_api"
	if _, _, code := deployEnv(t, inv, file, stack, map[string]string{"API_TAG": "v1"}); code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}
	start := time.Now()
	_, stderr, code := runDrover(t, inv, "service", "update", "--image", "drover-test/app:crash", svc)
	took := time.Since(start)
	if code == 0 || !(strings.Contains(stderr, "exited") || strings.Contains(stderr, "restarted")) {
		t.Errorf("crashing image: exit %d\n%s", code, stderr)
	}
	if took > 60*time.Second {
		t.Errorf("crash detected only after %s", took)
	}
	if got := replicaImages(t, svc, true); got["drover-test/app:v1"] != 6 {
		t.Errorf("after the crash rollback: %v", got)
	}

	// Never healthy: the new replicas stay "starting".
	const stack2 = "e2eslow"
	cleanupStack(t, inv, stack2)
	slow := stackFile(t, "never-healthy.yml")
	if _, _, code := deployEnv(t, inv, slow, stack2, nil); code != 0 {
		t.Fatalf("deploy slow: exit %d", code)
	}
	start = time.Now()
	_, stderr, code = deployEnv(t, inv, slow, stack2, map[string]string{"HC_INTERVAL": "10m"})
	took = time.Since(start)
	t.Logf("never-healthy update ended after %s", took)
	if code == 0 || !strings.Contains(stderr, "20s") {
		t.Errorf("never-healthy update: exit %d\n%s", code, stderr)
	}
	if took < 19*time.Second || took > 45*time.Second {
		t.Errorf("update ended after %s, want about the 20s update_timeout", took)
	}
}

// TestRollbackTwice: v1 → v2 → v2', two rollbacks give v1.
func TestRollbackTwice(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eback"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "rolling.yml")
	svc := stack + "_api"
	steps := []map[string]string{
		{"API_TAG": "nohc", "RELEASE": "one"},
		{"API_TAG": "v2", "RELEASE": "two"},
		{"API_TAG": "v2", "RELEASE": "two-prime"},
	}
	for _, env := range steps {
		if _, _, code := deployEnv(t, inv, file, stack, env); code != 0 {
			t.Fatalf("deploy %v: exit %d", env, code)
		}
	}
	release := func() map[string]int {
		m := map[string]int{}
		for _, c := range stackContainers(t, stack) {
			env := hostDocker(t, c.Host, "inspect", "--format", `{{range .Config.Env}}{{println .}}{{end}}`, c.ID)
			for _, l := range strings.Split(env, "\n") {
				if strings.HasPrefix(l, "RELEASE=") {
					m[strings.TrimPrefix(l, "RELEASE=")]++
				}
			}
		}
		return m
	}
	mustDrover(t, inv, "service", "rollback", svc)
	if got := release(); got["two"] != 6 || len(got) != 1 {
		t.Errorf("after one rollback: %v, want 6 × two", got)
	}
	mustDrover(t, inv, "service", "rollback", svc)
	if got := release(); got["one"] != 6 || len(got) != 1 {
		t.Errorf("after two rollbacks: %v, want 6 × one (not forward again)", got)
	}
	if imgs := replicaImages(t, svc, false); imgs["drover-test/app:nohc"] != 6 {
		t.Errorf("images after two rollbacks: %v", imgs)
	}
	out := mustDrover(t, inv, "service", "history", svc)
	if strings.Count(out, "rolled back") < 2 {
		t.Errorf("history should show the two rolled-back generations:\n%s", out)
	}
	// A third rollback has nowhere to go.
	if _, stderr, code := runDrover(t, inv, "service", "rollback", svc); code == 0 || !strings.Contains(stderr, "no earlier generation") {
		t.Errorf("third rollback: exit %d: %s", code, stderr)
	}
}
