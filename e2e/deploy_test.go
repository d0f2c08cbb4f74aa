//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stackFile returns the path of a stack fixture in testdata/stacks.
func stackFile(t testing.TB, name string) string {
	return filepath.Join(lab(t).RepoRoot, "testdata", "stacks", name)
}

// container is a drover container as seen directly on a host's engine.
type container struct {
	Host, ID, Name, Service, Slot, State string
}

// stackContainers lists a stack's containers on every host, straight from
// the engines (not through drover).
func stackContainers(t testing.TB, stack string) []container {
	t.Helper()
	var out []container
	for _, h := range lab(t).Hosts {
		lines, err := hostDockerErr(t, h.Name, "ps", "-a", "--filter", "label=drover.stack="+stack,
			"--format", `{{.ID}}|{{.Names}}|{{.Label "drover.service"}}|{{.Label "drover.slot"}}|{{.State}}`)
		if err != nil {
			// A host a test stopped; counts over the others tell the rest.
			t.Logf("%s: not listed: %v", h.Name, err)
			continue
		}
		for _, l := range strings.Split(lines, "\n") {
			if l == "" {
				continue
			}
			f := strings.Split(l, "|")
			out = append(out, container{Host: h.Name, ID: f[0], Name: f[1], Service: f[2], Slot: f[3], State: f[4]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// perHost counts a service's running containers per host.
func perHost(cs []container, service string) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		if c.Service == service && c.State == "running" {
			m[c.Host]++
		}
	}
	return m
}

func spreadOK(t *testing.T, counts map[string]int, hosts []string, total int) {
	t.Helper()
	sum, lo, hi := 0, 1<<30, 0
	for _, h := range hosts {
		n := counts[h]
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	if sum != total || hi-lo > 1 {
		t.Errorf("replicas per host %v over %v: total %d (want %d), max-min %d", counts, hosts, sum, total, hi-lo)
	}
}

// mutations runs fn and returns the container, network and volume changes
// the hosts' engines recorded meanwhile (health checks are not changes).
func mutations(t *testing.T, fn func()) []string {
	t.Helper()
	since := time.Now()
	fn()
	until := time.Now()
	time.Sleep(100 * time.Millisecond)
	ts := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	var out []string
	for _, h := range lab(t).Hosts {
		args := []string{"events", "--since", ts(since), "--until", ts(until), "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"}
		for _, ev := range []string{"create", "start", "stop", "kill", "die", "destroy", "rename", "update", "connect", "disconnect", "pull", "load", "tag", "delete"} {
			args = append(args, "--filter", "event="+ev)
		}
		for _, l := range strings.Split(hostDocker(t, h.Name, args...), "\n") {
			if l == "" {
				continue
			}
			out = append(out, h.Name+": "+l)
		}
	}
	return out
}

type stateDoc struct {
	Serial  int64 `json:"serial"`
	Lineage string
	Stacks  map[string]struct {
		Services map[string]struct {
			Current struct {
				Generation int
				Replicas   int
			}
		}
	}
	History []struct{ Serial int64 }
}

func readStateFile(t *testing.T, inv string) stateDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s stateDoc
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func mustDrover(t *testing.T, inv string, args ...string) string {
	t.Helper()
	out, _, code := runDrover(t, inv, args...)
	if code != 0 {
		t.Fatalf("drover %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

func cleanupStack(t *testing.T, inv, stack string) {
	t.Cleanup(func() {
		runDrover(t, inv, "stack", "rm", "--volumes", stack)
		for _, c := range stackContainers(t, stack) {
			hostDockerErr(t, c.Host, "rm", "-f", c.ID)
		}
		removeLeftProxies(t, inv)
	})
}

// removeLeftProxies removes the routing mesh proxies of inv's cluster that
// a test's last run could not remove (it changed the inventory, stopped a
// host): one host serves one cluster's mesh, and the next test has its own.
func removeLeftProxies(t *testing.T, inv string) {
	b, err := os.ReadFile(inv)
	if err != nil {
		return
	}
	m := clusterLine.FindString(string(b))
	name := strings.TrimSpace(strings.TrimPrefix(m, "cluster:"))
	if name == "" {
		return
	}
	for _, h := range lab(t).Hosts {
		ids, err := hostDockerErr(t, h.Name, "ps", "-aq", "--filter", "label=drover.proxy.cluster="+name)
		if err != nil {
			continue
		}
		for _, id := range strings.Fields(ids) {
			t.Logf("%s: removing the proxy %s the test left", h.Name, id)
			hostDockerErr(t, h.Name, "rm", "-f", id)
			labCmdErr(t, "exec", h.Name, "rm", "-rf", "/var/lib/drover/mesh")
		}
	}
}

func TestStackDeploy(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	inv := copyInventory(t)
	const stack = "e2ethree"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "three.yml")

	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	cs := stackContainers(t, stack)
	all := []string{"h1", "h2", "h3"}
	spreadOK(t, perHost(cs, stack+"_web"), all, 3)
	spreadOK(t, perHost(cs, stack+"_api"), all, 4)
	spreadOK(t, perHost(cs, stack+"_worker"), []string{"h2", "h3"}, 2)
	if n := perHost(cs, stack+"_worker")["h1"]; n != 0 {
		t.Errorf("worker runs on the manager h1 (%d replicas)", n)
	}

	// The published port answers on every host that runs web, and the
	// tricky environment value arrived byte for byte.
	want := `a$b "c" 'd' ; $(id) ` + "`x`" + ` \n end`
	for h, n := range perHost(cs, stack+"_web") {
		if n == 0 {
			continue
		}
		addr := l.Host(t, h).Addr
		var body string
		waitFor(t, 20*time.Second, "web answers on "+h, func() bool {
			code, b, err := httpGet("http://"+addr+":18080/env?name="+url.QueryEscape("TRICKY"), 2*time.Second)
			body = b
			return err == nil && code == 200
		})
		if body != want {
			t.Errorf("TRICKY on %s = %q, want %q", h, body, want)
		}
	}

	// The state file never holds an environment value in clear text.
	raw, _ := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json"))
	if strings.Contains(string(raw), "$(id)") || !strings.Contains(string(raw), "drover-sealed:v1:") {
		t.Errorf("environment values are not sealed in the state file")
	}

	// Deploying the same files again changes nothing at all.
	s1 := readStateFile(t, inv)
	var out string
	ev := mutations(t, func() {
		var code int
		out, _, code = runDrover(t, inv, "stack", "deploy", "--detailed-exitcode", "-c", file, stack)
		if code != 0 {
			t.Errorf("no-op redeploy with --detailed-exitcode: exit %d, want 0", code)
		}
	})
	if len(ev) != 0 {
		t.Errorf("no-op redeploy changed the hosts: %v", ev)
	}
	if s2 := readStateFile(t, inv); s2.Serial != s1.Serial {
		t.Errorf("no-op redeploy moved the serial %d → %d", s1.Serial, s2.Serial)
	}
	if !strings.Contains(out, "No changes") {
		t.Errorf("no-op plan output: %q", out)
	}

	// Changing web's environment replaces web's containers and no others.
	before := stackContainers(t, stack)
	os.Setenv("WEB_COLOR", "green")
	_, _, code := runDrover(t, inv, "stack", "deploy", "--detailed-exitcode", "-c", file, stack)
	os.Unsetenv("WEB_COLOR")
	if code != 2 {
		t.Errorf("changing deploy with --detailed-exitcode: exit %d, want 2", code)
	}
	after := stackContainers(t, stack)
	ids := func(cs []container, svc string) map[string]bool {
		m := map[string]bool{}
		for _, c := range cs {
			if c.Service == svc {
				m[c.ID] = true
			}
		}
		return m
	}
	for _, svc := range []string{"api", "worker"} {
		if fmt.Sprint(ids(before, stack+"_"+svc)) != fmt.Sprint(ids(after, stack+"_"+svc)) {
			t.Errorf("%s's containers changed although only web's environment did", svc)
		}
	}
	for id := range ids(before, stack+"_web") {
		if ids(after, stack+"_web")[id] {
			t.Errorf("web container %s was not replaced", id)
		}
	}
	if n := len(ids(after, stack+"_web")); n != 3 {
		t.Errorf("%d web containers after the change, want 3", n)
	}
	if s := readStateFile(t, inv); s.Stacks[stack].Services["web"].Current.Generation != 2 {
		t.Errorf("web generation %d, want 2", s.Stacks[stack].Services["web"].Current.Generation)
	}

	// Scale up and down.
	mustDrover(t, inv, "service", "scale", stack+"_api=6")
	spreadOK(t, perHost(stackContainers(t, stack), stack+"_api"), all, 6)
	mustDrover(t, inv, "service", "scale", stack+"_api=2")
	if n := len(ids(stackContainers(t, stack), stack+"_api")); n != 2 {
		t.Errorf("%d api containers after scaling to 2", n)
	}

	// Listings.
	out = mustDrover(t, inv, "--output", "json", "stack", "services", stack)
	var svcs []struct {
		Name             string
		Running, Desired int
	}
	if err := json.Unmarshal([]byte(out), &svcs); err != nil || len(svcs) != 3 {
		t.Fatalf("stack services json: %v\n%s", err, out)
	}
	for _, s := range svcs {
		if s.Running != s.Desired {
			t.Errorf("service %s: %d/%d running", s.Name, s.Running, s.Desired)
		}
	}
	out, errOut, _ := runDrover(t, inv, "service", "logs", "--tail", "5", stack+"_web")
	if out += errOut; !strings.Contains(out, stack+"_web.1@") || !strings.Contains(out, "| testapp: version v1 listening") {
		t.Errorf("service logs lines are not prefixed service.slot@host:\n%s", out)
	}

	// service rm.
	mustDrover(t, inv, "service", "rm", stack+"_worker")
	if n := len(ids(stackContainers(t, stack), stack+"_worker")); n != 0 {
		t.Errorf("%d worker containers after service rm", n)
	}

	// --prune removes what the files no longer have; without it, it stays.
	only := filepath.Join(t.TempDir(), "web-only.yml")
	os.WriteFile(only, []byte("services:\n  web:\n    image: drover-test/app:v1\n    environment: {COLOR: green, TRICKY: \"a$$b \\\"c\\\" 'd' ; $$(id) `x` \\\\n end\"}\n    ports: [\"18080:8080\"]\n    deploy: {replicas: 3, update_config: {parallelism: 3, monitor: 1s}}\n"), 0o644)
	mustDrover(t, inv, "stack", "deploy", "-c", only, stack)
	if n := len(ids(stackContainers(t, stack), stack+"_api")); n != 2 {
		t.Errorf("without --prune api should stay: %d containers", n)
	}
	mustDrover(t, inv, "stack", "deploy", "--prune", "-c", only, stack)
	if n := len(ids(stackContainers(t, stack), stack+"_api")); n != 0 {
		t.Errorf("with --prune api should go: %d containers", n)
	}

	// stack rm removes containers and networks.
	mustDrover(t, inv, "stack", "rm", stack)
	if cs := stackContainers(t, stack); len(cs) != 0 {
		t.Errorf("containers left after stack rm: %v", cs)
	}
	for _, h := range l.Hosts {
		if nets := hostDocker(t, h.Name, "network", "ls", "-q", "--filter", "label=drover.stack="+stack); nets != "" {
			t.Errorf("%s: networks left after stack rm: %s", h.Name, nets)
		}
	}
	hist := readStateFile(t, inv).History
	for i := 1; i < len(hist); i++ {
		if hist[i].Serial <= hist[i-1].Serial {
			t.Errorf("history serials not increasing: %v", hist)
		}
	}
}

func TestPlacementConstraint(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2eraid"
	cleanupStack(t, inv, stack)
	mustDrover(t, inv, "stack", "deploy", "-c", stackFile(t, "raid.yml"), stack)
	cs := stackContainers(t, stack)
	if len(cs) != 1 || cs[0].Host != "h3" {
		t.Fatalf("db should run once on h3 (storage=raid): %v", cs)
	}
	if v := hostDocker(t, "h3", "volume", "ls", "-q", "--filter", "name="+stack+"_dbdata"); v != stack+"_dbdata" {
		t.Errorf("volume on h3: %q", v)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	cases := []struct {
		file string
		want []string
	}{
		{"unsatisfiable.yml", []string{"numbers-db: 1 replica unschedulable", "3 nodes", "node.labels.storage == ssd"}},
		{"typo.yml", []string{"typo.yml", "restrat"}},
		{"missing-image.yml", []string{"drover-test/does-not-exist:v9", "drover image push", "nothing was changed"}},
		{"broken.yml", []string{"broken.yml", "line"}},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			stack := "e2ebad"
			cleanupStack(t, inv, stack)
			var stderr string
			var code int
			ev := mutations(t, func() {
				_, stderr, code = runDrover(t, inv, "stack", "deploy", "-c", stackFile(t, c.file), stack)
			})
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("error does not mention %q:\n%s", w, stderr)
				}
			}
			var changes []string
			for _, e := range ev {
				// A failed pull attempt is not a change.
				if !strings.Contains(e, " pull ") {
					changes = append(changes, e)
				}
			}
			if len(changes) != 0 {
				t.Errorf("hosts changed: %v", changes)
			}
			if cs := stackContainers(t, stack); len(cs) != 0 {
				t.Errorf("containers created: %v", cs)
			}
			// The refused stack is not recorded as desired either.
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json")); err == nil && strings.Contains(string(b), `"`+stack+`"`) {
				t.Errorf("the refused stack was saved in the state")
			}
		})
	}
}

func TestImagePush(t *testing.T) {
	l := lab(t)
	inv := copyInventory(t)
	dir := os.Getenv("DROVER_TEST_IMAGES")
	if dir == "" {
		dir = filepath.Join(tmpDir, "images")
		if _, err := os.Stat(filepath.Join(dir, "big-v1.tar")); err != nil {
			cmd := exec.Command("bash", filepath.Join(l.RepoRoot, "scripts", "build-test-images.sh"), dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("build images: %v\n%s", err, out)
			}
		}
	}
	const img = "drover-test/big:v1"
	// h1's engine plays the local engine; h2 and h3 lack the image.
	for _, h := range l.Hosts {
		hostDockerErr(t, h.Name, "rmi", "-f", img)
	}
	labCmd(t, "load", filepath.Join(dir, "big-v1.tar"), "h1")
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	start := time.Now()
	out := mustDrover(t, inv, "--output", "json", "image", "push", img)
	t.Logf("image push of %s to 2 hosts took %s", img, time.Since(start))
	var rows []struct{ Host, Result, ID string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err, out)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Host] = r.Result
	}
	if got["h1"] != "up to date" || got["h2"] != "pushed" || got["h3"] != "pushed" {
		t.Errorf("push results %v", got)
	}
	want := hostDocker(t, "h1", "image", "inspect", "--format", "{{.Id}}", img)
	for _, h := range []string{"h2", "h3"} {
		if id := hostDocker(t, h, "image", "inspect", "--format", "{{.Id}}", img); id != want {
			t.Errorf("%s has %s as %s, want %s", h, img, id, want)
		}
	}
	out = mustDrover(t, inv, "--output", "json", "image", "push", img)
	if strings.Count(out, `"up to date"`) != 3 {
		t.Errorf("second push should skip every host:\n%s", out)
	}
}

// TestKilledDeployConverges kills a deploy mid-apply, then deploys again:
// the cluster converges with exactly one container per slot.
func TestKilledDeployConverges(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	const stack = "e2ekill"
	cleanupStack(t, inv, stack)
	file := stackFile(t, "many.yml")
	cmd := exec.Command(droverBin(t), "--inventory", inv, "stack", "deploy", "-c", file, stack)
	cmd.Dir = filepath.Dir(inv)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill once some but not all replicas exist.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if n := len(stackContainers(t, stack)); n >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// docker commands the killed run had started on the hosts finish
	// there on their own (sshd does not kill them): let them land, so
	// the next run sees them instead of racing them.
	time.Sleep(3 * time.Second)
	partial := len(stackContainers(t, stack))
	t.Logf("%d containers when the deploy was killed", partial)
	// The lock of the killed run is still there: a new run must wait for
	// it to expire or be told who holds it. Release it as an operator would.
	_, stderr, code := runDrover(t, inv, "stack", "deploy", "-c", file, stack)
	if code != 0 {
		if !strings.Contains(stderr, "locked by") {
			t.Fatalf("second deploy failed without naming the lock: %s", stderr)
		}
		mustDrover(t, inv, "lock", "release", "--force")
		mustDrover(t, inv, "stack", "deploy", "-c", file, stack)
	}
	cs := stackContainers(t, stack)
	slots := map[string]int{}
	for _, c := range cs {
		if c.State == "running" {
			slots[c.Slot]++
		}
	}
	if len(cs) != 12 || len(slots) != 12 {
		t.Errorf("after the second deploy: %d containers, %d distinct running slots (want 12, 12): %v", len(cs), len(slots), cs)
	}
	for s, n := range slots {
		if n != 1 {
			t.Errorf("slot %s has %d containers", s, n)
		}
	}
}
