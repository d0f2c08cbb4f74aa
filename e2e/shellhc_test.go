//go:build e2e

package e2e

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/internal/testimage"
)

// staticBusybox is the busybox of Debian's busybox-static package: one
// static binary, so it runs as /bin/sh in an image with nothing else.
const staticBusybox = "/bin/busybox"

// shellImage builds drover-test/shell:v1 (the test app at /app, busybox at
// /bin/sh, no healthcheck of its own) and loads it on every lab host.
func shellImage(t *testing.T) string {
	t.Helper()
	f, err := elf.Open(staticBusybox)
	if err != nil {
		missing(t, "%s: %v (scripts/lab.sh up installs busybox-static)", staticBusybox, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			f.Close()
			missing(t, "%s is not statically linked", staticBusybox)
		}
	}
	f.Close()
	sh, err := os.ReadFile(staticBusybox)
	if err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(os.Getenv("DROVER_TEST_IMAGES"), "app")
	if _, err := os.Stat(app); os.Getenv("DROVER_TEST_IMAGES") == "" || err != nil {
		app = filepath.Join(t.TempDir(), "app")
		cmd := exec.Command("go", "build", "-trimpath", "-o", app, "./internal/testapp")
		cmd.Dir = lab(t).RepoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build testapp: %v\n%s", err, out)
		}
	}
	bin, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	const ref = "drover-test/shell:v1"
	var buf bytes.Buffer
	_, err = testimage.WriteArchive(&buf, testimage.Image{
		Tags: []string{ref},
		Files: []testimage.File{
			{Path: "/app", Mode: 0o755, Data: bin},
			{Path: "/bin/sh", Mode: 0o755, Data: sh},
			{Path: "/tmp/", Mode: 0o1777, Dir: true},
		},
		Entrypoint:   []string{"/app"},
		Env:          []string{"VERSION=shell"},
		ExposedPorts: []string{"8080/tcp"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range lab(t).Hosts {
		cmd := exec.Command("docker", "-H", h.DockerHost(), "load")
		cmd.Stdin = bytes.NewReader(buf.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: docker load: %v\n%s", h.Name, err, out)
		}
	}
	return ref
}

// TestShellHealthcheck: CMD-SHELL and a plain string run with the image's
// shell, and both turn healthy on an image that has one.
func TestShellHealthcheck(t *testing.T) {
	ref := shellImage(t)
	inv := copyInventory(t)
	const stack = "e2eshellhc"
	cleanupStack(t, inv, stack)
	file := writeStack(t, `services:
  cmdshell:
    image: `+ref+`
    healthcheck:
      test: ["CMD-SHELL", "test -n \"$$VERSION\" && /app -check http://127.0.0.1:8080/health"]
      interval: 1s
      retries: 2
    deploy:
      replicas: 2
  plain:
    image: `+ref+`
    healthcheck:
      test: /app -check http://127.0.0.1:8080/health || exit 1
      interval: 1s
      retries: 2
    deploy:
      replicas: 1
`)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	waitAllHealthy(t, stack, 3)
	for name, h := range healthOf(t, stack) {
		if !strings.Contains(h, `["CMD-SHELL",`) {
			t.Errorf("%s: healthcheck %s, want shell form", name, h)
		}
	}
}
