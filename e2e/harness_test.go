//go:build e2e

// Package e2e holds drover's end-to-end tests. They run against the test lab
// of scripts/lab.sh (several hosts, each with its own sshd and dockerd, in
// namespaces of this machine):
//
//	sudo scripts/lab.sh up 3
//	scripts/build-test-images.sh /tmp/drover-images && sudo scripts/lab.sh load /tmp/drover-images/all.tar
//	go test -tags e2e ./e2e/
//
// Without a lab the tests are skipped (exit 0), except under CI=true, where a
// missing lab is a failure.
//
// Environment: LAB_DIR (default /var/lib/drover-lab), DROVER_BIN (use this
// drover binary instead of building one), DROVER_E2E_TIMEOUT (per drover
// command, default 5m).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// LabHost is one host of the lab.
type LabHost struct {
	Name       string // h1
	Addr       string // 10.77.0.11
	DockerSock string // $LAB_DIR/h1/docker.sock: the host's engine, from the root namespace
	Platform   string // linux/amd64; an extra host's ($LAB_DIR/hK/platform)
	// Entry is an extra host's inventory entry ($LAB_DIR/hK/inventory-entry.yaml,
	// "  - name: h4" ...), to append under hosts:. Empty for the inventory's hosts.
	Entry string
}

// DockerHost is the DOCKER_HOST value for this host's engine.
func (h LabHost) DockerHost() string { return "unix://" + h.DockerSock }

// Lab is the running test lab.
type Lab struct {
	Dir       string // $LAB_DIR
	Inventory string // $LAB_DIR/inventory.yaml (don't write to it: see copyInventory)
	Script    string // scripts/lab.sh of this repository
	RepoRoot  string
	Hosts     []LabHost
	// Extras are the hosts of `lab.sh add hK PLATFORM`: not in Inventory
	// (tests that use one append its Entry: see copyInventoryWith), maybe
	// not running.
	Extras []LabHost
}

// Host returns the host called name (of the inventory, or an extra one),
// or fails the test.
func (l *Lab) Host(t testing.TB, name string) LabHost {
	t.Helper()
	for _, h := range append(l.Hosts[:len(l.Hosts):len(l.Hosts)], l.Extras...) {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("lab has no host %q (hosts: %v, extra hosts: %v)", name, l.Hosts, l.Extras)
	return LabHost{}
}

// Extra returns a running extra host of platform (e.g. linux/386), as
// `scripts/lab.sh add h4 linux/386` starts it; without one the test is
// skipped, or fails under CI=true.
func (l *Lab) Extra(t testing.TB, platform string) LabHost {
	t.Helper()
	for _, h := range l.Extras {
		if h.Platform != platform {
			continue
		}
		if err := pingDocker(h.DockerSock, 3*time.Second); err != nil {
			missing(t, "the lab's %s host %s does not answer (%v): scripts/lab.sh start %s", platform, h.Name, err, h.Name)
		}
		return h
	}
	missing(t, "the lab has no %s host: scripts/lab.sh add h4 %s", platform, platform)
	return LabHost{}
}

var (
	theLab *Lab
	tmpDir string // removed after the run

	// droverInventoryArgs are the arguments that point drover at an
	// inventory file; runDrover puts them before the caller's arguments.
	// (drover also gets DROVER_INVENTORY=inv and runs in the inventory's
	// directory.) Change here if the CLI spells it differently.
	droverInventoryArgs = func(inv string) []string { return []string{"--inventory", inv} }
)

func TestMain(m *testing.M) {
	l, err := findLab()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: no test lab: %v\n"+
				"e2e: CI=true, so a missing lab is a failure. Start it first:\n"+
				"e2e:   scripts/lab.sh up 3 && scripts/build-test-images.sh DIR && scripts/lab.sh load DIR/all.tar\n", err)
			os.Exit(1)
		}
		fmt.Fprintf(os.Stderr, "e2e: SKIP: no test lab (%v); the e2e tests are skipped.\n"+
			"e2e: start one with: sudo scripts/lab.sh up 3\n", err)
		fmt.Println("ok (e2e tests skipped: no lab)")
		os.Exit(0)
	}
	theLab = l
	tmpDir, err = os.MkdirTemp("", "drover-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	// drover (state keys in ~/.config/drover), the docker CLI and ssh run
	// with a home of the run's own: the suite writes nothing into the
	// user's HOME.
	home := filepath.Join(tmpDir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Setenv("HOME", home)
	os.Unsetenv("XDG_CONFIG_HOME")
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/drover-sh/drover")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("repository root (go.mod of github.com/drover-sh/drover) not found")
		}
		dir = parent
	}
}

// findLab reads $LAB_DIR/inventory.yaml (as written by lab.sh) and checks
// that every host's engine answers.
func findLab() (*Lab, error) {
	dir := os.Getenv("LAB_DIR")
	if dir == "" {
		dir = "/var/lib/drover-lab"
	}
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	l := &Lab{Dir: dir, Inventory: filepath.Join(dir, "inventory.yaml"), RepoRoot: root,
		Script: filepath.Join(root, "scripts", "lab.sh")}
	f, err := os.Open(l.Inventory)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// lab.sh writes a fixed layout: "  - name: hK" then "    address: A".
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if v, ok := strings.CutPrefix(line, "- name:"); ok {
			name := strings.TrimSpace(v)
			l.Hosts = append(l.Hosts, LabHost{Name: name, DockerSock: filepath.Join(dir, name, "docker.sock"), Platform: "linux/amd64"})
		} else if v, ok := strings.CutPrefix(line, "address:"); ok && len(l.Hosts) > 0 {
			l.Hosts[len(l.Hosts)-1].Addr = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(l.Hosts) == 0 {
		return nil, fmt.Errorf("%s lists no hosts", l.Inventory)
	}
	var down []string
	for _, h := range l.Hosts {
		if h.Addr == "" {
			return nil, fmt.Errorf("%s: host %s has no address", l.Inventory, h.Name)
		}
		if err := pingDocker(h.DockerSock, 3*time.Second); err != nil {
			down = append(down, fmt.Sprintf("%s (%v)", h.Name, err))
		}
	}
	if len(down) > 0 {
		return nil, fmt.Errorf("lab hosts not answering: %s (try: scripts/lab.sh up %d)", strings.Join(down, ", "), len(l.Hosts))
	}
	extras, err := findExtras(dir)
	if err != nil {
		return nil, err
	}
	l.Extras = extras
	return l, nil
}

// findExtras reads the extra hosts of lab.sh add: $LAB_DIR/hK/platform and
// $LAB_DIR/hK/inventory-entry.yaml.
func findExtras(dir string) ([]LabHost, error) {
	plats, err := filepath.Glob(filepath.Join(dir, "h*", "platform"))
	if err != nil {
		return nil, err
	}
	var out []LabHost
	for _, p := range plats {
		hdir := filepath.Dir(p)
		plat, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		entryFile := filepath.Join(hdir, "inventory-entry.yaml")
		entry, err := os.ReadFile(entryFile)
		if err != nil {
			return nil, err
		}
		h := LabHost{Name: filepath.Base(hdir), DockerSock: filepath.Join(hdir, "docker.sock"),
			Platform: strings.TrimSpace(string(plat)), Entry: string(entry)}
		for _, line := range strings.Split(h.Entry, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "address:"); ok {
				h.Addr = strings.TrimSpace(v)
			}
		}
		if h.Addr == "" || !strings.HasPrefix(h.Entry, "  - name: "+h.Name+"\n") {
			return nil, fmt.Errorf("%s: not an inventory entry of %s:\n%s", entryFile, h.Name, h.Entry)
		}
		out = append(out, h)
	}
	return out, nil
}

// pingDocker asks the engine behind a unix socket for /_ping.
func pingDocker(sock string, timeout time.Duration) error {
	c := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("/_ping: %s", resp.Status)
	}
	return nil
}

// lab returns the running lab.
// missing skips a test whose prerequisite is missing, except under CI=true,
// where every proof must run: there it fails the test.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true, and the test cannot run: "+format, args...)
	}
	t.Skipf(format, args...)
}

func lab(t testing.TB) *Lab {
	t.Helper()
	if theLab == nil {
		// TestMain exits before the tests run without a lab; this only
		// guards against a test run some other way.
		if os.Getenv("CI") == "true" {
			t.Fatal("no test lab (CI=true: a missing lab is a failure)")
		}
		t.Skip("no test lab")
	}
	return theLab
}

// labCmd runs scripts/lab.sh with args (e.g. "stop", "h2") and returns its
// combined output; it fails the test if the script fails.
func labCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, err := labCmdErr(t, args...)
	if err != nil {
		t.Fatalf("lab.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// labCmdErr is labCmd for callers that expect failures.
func labCmdErr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	l := lab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{l.Script}, args...)...)
	cmd.Env = append(os.Environ(), "LAB_DIR="+l.Dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hostDocker runs the docker CLI against host's engine (host is a name, e.g.
// "h1") and returns its stdout, trimmed; it fails the test on error.
func hostDocker(t testing.TB, host string, args ...string) string {
	t.Helper()
	out, err := hostDockerErr(t, host, args...)
	if err != nil {
		t.Fatalf("docker %s on %s: %v", strings.Join(args, " "), host, err)
	}
	return out
}

// hostDockerErr is hostDocker for callers that expect failures; the error
// includes docker's stderr.
func hostDockerErr(t testing.TB, host string, args ...string) (string, error) {
	t.Helper()
	h := lab(t).Host(t, host)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", append([]string{"-H", h.DockerHost()}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), err
}

// copyInventory copies the lab's inventory into a fresh t.TempDir() and
// returns its path: paths in it stay absolute, and the relative state path
// (drover.state.json) lands in that directory, so each test has its own
// state. Each test also gets a cluster name of its own (lab-TESTNAME): a
// state belongs to one cluster, and a run refuses to start a new state
// while containers of its cluster run elsewhere (another test's).
func copyInventory(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(lab(t).Inventory)
	if err != nil {
		t.Fatal(err)
	}
	s := clusterLine.ReplaceAllString(string(b), "cluster: "+testCluster(t))
	if s == string(b) {
		t.Fatalf("no cluster: line in the lab inventory")
	}
	p := filepath.Join(t.TempDir(), "inventory.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	clusterLine = regexp.MustCompile(`(?m)^cluster: .*$`)
	notNameChar = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
)

// testCluster is the cluster name of a test: lab-TOP (subtests share their
// top-level test's cluster and its stacks' cleanups).
// copyInventoryWith is copyInventory with extra hosts (Lab.Extra) added
// after the lab's own: an inventory of h1..h3 and, say, a linux/386 h4.
func copyInventoryWith(t testing.TB, extra ...LabHost) string {
	t.Helper()
	p := copyInventory(t)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// lab.sh writes hosts: last, so entries appended at the end are its items.
	if !hostsLast.Match(b) {
		t.Fatalf("%s: hosts: is not the last key of the lab inventory; cannot append hosts", lab(t).Inventory)
	}
	s := strings.TrimRight(string(b), "\n") + "\n"
	for _, h := range extra {
		if h.Entry == "" {
			t.Fatalf("%s is not an extra host of the lab (no inventory entry)", h.Name)
		}
		s += strings.TrimRight(h.Entry, "\n") + "\n"
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hostsLast matches an inventory whose last top-level key is hosts:.
var hostsLast = regexp.MustCompile(`(?ms)^hosts:\n(?:[ -].*\n?)*\z`)

func testCluster(t testing.TB) string {
	top, _, _ := strings.Cut(t.Name(), "/")
	return "lab-" + notNameChar.ReplaceAllString(top, "-")
}

var (
	droverOnce sync.Once
	droverPath string
	droverErr  error
)

// droverBin builds drover once per run (or takes $DROVER_BIN) and returns
// the binary's path; it fails the test if drover does not build.
func droverBin(t testing.TB) string {
	t.Helper()
	droverOnce.Do(func() {
		if p := os.Getenv("DROVER_BIN"); p != "" {
			droverPath, droverErr = filepath.Abs(p)
			return
		}
		l := lab(t)
		droverPath = filepath.Join(tmpDir, "drover")
		cmd := exec.Command("go", "build", "-o", droverPath, "github.com/drover-sh/drover")
		cmd.Dir = l.RepoRoot
		// Static: the binary is also the routing mesh's proxy image.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			droverErr = fmt.Errorf("go build github.com/drover-sh/drover: %v\n%s", err, out)
		}
	})
	if droverErr != nil {
		t.Fatal(droverErr)
	}
	return droverPath
}

// runDrover runs drover against the inventory inv (see copyInventory), in
// inv's directory, and returns its output and exit code (-1 if it could not
// run or timed out).
func runDrover(t testing.TB, inv string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := droverBin(t)
	timeout := 5 * time.Minute
	if v := os.Getenv("DROVER_E2E_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append(droverInventoryArgs(inv), args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = filepath.Dir(inv)
	cmd.Env = append(os.Environ(), "DROVER_INVENTORY="+inv, "NO_COLOR=1")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 10 * time.Second // ssh children left behind must not hang us
	start := time.Now()
	err := cmd.Run()
	code = 0
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() == nil {
			code = ee.ExitCode()
		} else {
			code = -1
			fmt.Fprintf(&e, "\n[e2e: drover did not finish: %v]", err)
		}
	}
	t.Logf("drover %s → %d in %s\n--- stdout\n%s--- stderr\n%s", strings.Join(full, " "), code,
		time.Since(start).Round(time.Millisecond), clip(o.String()), clip(e.String()))
	return o.String(), e.String(), code
}

func clip(s string) string {
	const max = 4000
	if len(s) > max {
		s = s[:max/2] + "\n[...]\n" + s[len(s)-max/2:]
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// waitFor polls cond every 200ms until it is true or timeout passes, then
// fails the test with msg.
func waitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// httpGet GETs url with a short timeout and returns status and body.
func httpGet(url string, timeout time.Duration) (int, string, error) {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

var (
	imagesOnce sync.Once
	imagesErr  error
)

// testImages are the images of scripts/build-test-images.sh (all.tar).
var testImages = []string{"drover-test/app:v1", "drover-test/app:v2", "drover-test/app:v3-bad", "drover-test/app:crash", "drover-test/app:nohc"}

// ensureImages makes sure every lab host has the drover-test/app images,
// building and loading them (once per run) where they are missing.
func ensureImages(t testing.TB) {
	t.Helper()
	l := lab(t)
	imagesOnce.Do(func() {
		var missing []string
		for _, h := range l.Hosts {
			args := append([]string{"-H", h.DockerHost(), "image", "inspect", "--format", "{{.Id}}"}, testImages...)
			if err := exec.Command("docker", args...).Run(); err != nil {
				missing = append(missing, h.Name)
			}
		}
		if len(missing) == 0 {
			return
		}
		dir := filepath.Join(tmpDir, "images")
		cmd := exec.Command("bash", filepath.Join(l.RepoRoot, "scripts", "build-test-images.sh"), dir)
		cmd.Dir = l.RepoRoot
		// Static: the binary is also the routing mesh's proxy image.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			imagesErr = fmt.Errorf("build-test-images.sh: %v\n%s", err, out)
			return
		}
		cmd = exec.Command("bash", append([]string{l.Script, "load", filepath.Join(dir, "all.tar")}, missing...)...)
		cmd.Env = append(os.Environ(), "LAB_DIR="+l.Dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			imagesErr = fmt.Errorf("lab.sh load: %v\n%s", err, out)
		}
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
}
