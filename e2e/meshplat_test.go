//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	drover386Once sync.Once
	drover386Path string
	drover386Err  error
)

// drover386 is a static linux/386 build of this drover: DROVER_BIN_386
// (scripts/test.sh builds it), or built here once.
func drover386(t *testing.T) string {
	t.Helper()
	drover386Once.Do(func() {
		if p := os.Getenv("DROVER_BIN_386"); p != "" {
			drover386Path, drover386Err = filepath.Abs(p)
			return
		}
		drover386Path = filepath.Join(tmpDir, "linux-386", "drover")
		began := time.Now()
		cmd := exec.Command("go", "build", "-o", drover386Path, "github.com/drover-sh/drover")
		cmd.Dir = lab(t).RepoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=386")
		if out, err := cmd.CombinedOutput(); err != nil {
			drover386Err = fmt.Errorf("GOARCH=386 go build: %v\n%s", err, out)
		}
		t.Logf("GOARCH=386 go build: %s", time.Since(began).Round(time.Millisecond))
	})
	if drover386Err != nil {
		t.Fatal(drover386Err)
	}
	return drover386Path
}

// TestMeshMixedPlatforms: the routing mesh on h1..h3 (amd64) and the lab's
// linux/386 h4. Without a 386 drover the run names h4, its platform and
// what to provide, exits non-zero, leaves h4 untouched and h1..h3 serve;
// with one (DROVER_PROXY_BINARY) h4's proxy is a 386 image and every host
// answers, over every replica, h4's included.
func TestMeshMixedPlatforms(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	h4 := l.Extra(t, "linux/386")
	bin386 := drover386(t)
	inv := copyInventoryWith(t, h4)
	const stack = "e2emeshplat"
	onH4 := func() []string {
		out, _ := hostDockerErr(t, h4.Name, "ps", "-q", "--filter", "label=drover.stack="+stack)
		return strings.Fields(out)
	}
	rmProxy4 := func() { hostDockerErr(t, h4.Name, "rm", "-f", "drover-proxy") }
	rmProxy4()
	t.Cleanup(func() { // after stack rm: cleanupStack looks at the inventory's hosts only
		for _, id := range onH4() {
			hostDockerErr(t, h4.Name, "rm", "-f", id)
		}
		rmProxy4()
	})
	cleanupStack(t, inv, stack)
	// drover-test/app:v1 is amd64 on h1..h3 and 386 on h4 (all386.tar).
	file := writeStack(t, fmt.Sprintf(`services:
  web:
    image: drover-test/app:v1
    ports: ["%s:8080"]
    deploy:
      replicas: 4
      placement: {max_replicas_per_node: 1}
`, meshPort))
	all := append(hostAddrs(t), h4.Addr)
	answered := func(addrs []string, rounds int) (map[string]int, error) {
		c := newClient()
		seen := map[string]int{}
		for i := 0; i < rounds; i++ {
			for _, a := range addrs {
				name, err := meshGet(c, a)
				if err != nil {
					return seen, fmt.Errorf("%s: %w", a, err)
				}
				seen[name]++
			}
		}
		return seen, nil
	}

	// Without: h4 is named, the others serve the three amd64 replicas.
	t.Setenv("DROVER_PROXY_BINARY", "")
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", file, stack)
	if code == 0 {
		t.Errorf("deploy without a 386 drover: exit 0, want non-zero (h4 has no proxy)")
	}
	for _, want := range []string{"h4: routing mesh: no drover binary for linux/386", "DROVER_PROXY_BINARY=…/drover-linux-386"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("deploy without a 386 drover: stderr lacks %q", want)
		}
	}
	// Said before the apply too: a warning ahead of the replicas' creation.
	if warn, create := strings.Index(stderr, "(the run goes on without it)"), strings.Index(stderr, "new replica"); warn < 0 || create < 0 || warn > create {
		t.Errorf("deploy without a 386 drover: no warning before the apply (at %d, first replica at %d)", warn, create)
	}
	if out, err := hostDockerErr(t, h4.Name, "ps", "-aq", "--filter", "name=^drover-proxy$"); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("%s has a drover-proxy container %q (%v), want none", h4.Name, out, err)
	}
	ids4 := onH4()
	if len(ids4) != 1 {
		t.Fatalf("replicas on %s: %v, want 1", h4.Name, ids4)
	}
	var seen map[string]int
	var err error
	waitFor(t, 15*time.Second, "h1..h3 answering on the ingress port", func() bool {
		seen, err = answered(hostAddrs(t), 1)
		return err == nil && len(seen) > 0
	})
	seen, err = answered(hostAddrs(t), 20)
	if err != nil || len(seen) != 3 || seen[ids4[0]] != 0 {
		t.Errorf("without h4's proxy: h1..h3 answered by %v (%v), want the 3 amd64 replicas, not %s's", seen, err, h4.Name)
	}

	// With: a 386 proxy on h4, loaded by drover.
	hostDockerErr(t, h4.Name, "image", "rm", "-f", "drover-proxy")
	t.Setenv("DROVER_PROXY_BINARY", bin386)
	began := time.Now()
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	t.Logf("deploy that installs the 386 proxy: %s", time.Since(began).Round(time.Millisecond))
	ref := hostDocker(t, h4.Name, "inspect", "--format", "{{.Config.Image}}", "drover-proxy")
	if got := hostDocker(t, h4.Name, "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", ref); got != "linux/386" {
		t.Errorf("%s's proxy image %s is %s, want linux/386", h4.Name, ref, got)
	}
	if ref1 := hostDocker(t, "h1", "inspect", "--format", "{{.Config.Image}}", "drover-proxy"); ref1 == ref {
		t.Errorf("h1 and %s run the same proxy image %s", h4.Name, ref)
	}
	waitFor(t, 15*time.Second, "h4 answering on the ingress port", func() bool {
		_, err := answered([]string{h4.Addr}, 1)
		return err == nil
	})
	seen, err = answered(all, 25)
	if err != nil || len(seen) != 4 || seen[ids4[0]] == 0 {
		t.Errorf("with h4's proxy: every host answered by %v (%v), want 4 replicas, %s's included", seen, err, h4.Name)
	}
	out, _, _ := runDrover(t, inv, "node", "inspect", h4.Name)
	if !strings.Contains(out, `"platform": "linux/386"`) {
		t.Errorf("node inspect %s does not show its proxy's platform", h4.Name)
	}
}
