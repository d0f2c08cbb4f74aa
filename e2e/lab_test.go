//go:build e2e

package e2e

// Tests of the test lab itself (scripts/lab.sh): if these fail, drover's e2e
// failures mean nothing. Run alone with: go test -tags e2e ./e2e/ -run Lab -v

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshLab runs cmd on host over ssh with the lab's key and known_hosts.
func sshLab(t testing.TB, h LabHost, cmd string) (string, error) {
	t.Helper()
	l := lab(t)
	out, err := exec.Command("ssh", "-i", l.Dir+"/id_ed25519",
		"-o", "UserKnownHostsFile="+l.Dir+"/known_hosts", "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=2", "-o", "IdentitiesOnly=yes",
		"-o", "LogLevel=ERROR", "root@"+h.Addr, cmd).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func dial(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err == nil {
		c.Close()
	}
	return err
}

func TestLabHostsAnswer(t *testing.T) {
	l := lab(t)
	if len(l.Hosts) < 3 {
		t.Fatalf("want at least 3 lab hosts, have %d", len(l.Hosts))
	}
	seen := map[string]string{}
	for _, h := range l.Hosts {
		// dockerd over the shared socket; its name is the host's UTS hostname
		info := hostDocker(t, h.Name, "info", "--format", "{{.Name}} {{.ID}} {{.Driver}} {{.CgroupDriver}}")
		f := strings.Fields(info)
		if len(f) != 4 || f[0] != h.Name || f[3] != "cgroupfs" {
			t.Errorf("%s: docker info = %q", h.Name, info)
		}
		if len(f) >= 2 {
			if other, dup := seen[f[1]]; dup {
				t.Errorf("%s and %s share one engine (ID %s)", other, h.Name, f[1])
			}
			seen[f[1]] = h.Name
		}
		// sshd: key login, own hostname, docker on the host's own socket,
		// private /var/lib/drover.
		out, err := sshLab(t, h, "hostname; docker info --format '{{.ID}}'; mkdir -p /var/lib/drover && echo "+h.Name+" >/var/lib/drover/lab-test && cat /var/lib/drover/lab-test")
		if err != nil {
			t.Errorf("ssh %s: %v: %s", h.Name, err, out)
			continue
		}
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || lines[0] != h.Name || (len(f) >= 2 && lines[1] != f[1]) || lines[2] != h.Name {
			t.Errorf("ssh %s: got %q", h.Name, out)
		}
	}
	// /var/lib/drover is per host: each saw only its own file
	for _, h := range l.Hosts {
		if out, err := sshLab(t, h, "cat /var/lib/drover/lab-test; rm -f /var/lib/drover/lab-test"); err != nil || out != h.Name {
			t.Errorf("%s: /var/lib/drover is not private: %q %v", h.Name, out, err)
		}
	}
}

func TestLabPublishedPorts(t *testing.T) {
	l := lab(t)
	ensureImages(t)
	h1, h2 := l.Hosts[0], l.Hosts[1]
	name := "labtest-publish"
	hostDockerErr(t, h1.Name, "rm", "-f", name)
	t.Cleanup(func() { hostDockerErr(t, h1.Name, "rm", "-f", name) })
	hostDocker(t, h1.Name, "run", "-d", "--name", name, "-p", "18081:8080", "-e", "APP_TAG=x y", "drover-test/app:v1")

	url := fmt.Sprintf("http://%s:18081", h1.Addr)
	waitFor(t, 15*time.Second, "app answers on "+url, func() bool {
		code, _, err := httpGet(url+"/health", time.Second)
		return err == nil && code == 200
	})
	if code, body, err := httpGet(url+"/", 2*time.Second); err != nil || code != 200 || !strings.Contains(body, `"version":"v1"`) {
		t.Fatalf("GET / = %d %q %v", code, body, err)
	}
	if _, body, _ := httpGet(url+"/env?name=APP_TAG", 2*time.Second); body != "x y" {
		t.Errorf("env APP_TAG = %q", body)
	}
	// from a container on another host (through h2's NAT and the lab bridge)
	if out, err := hostDockerErr(t, h2.Name, "run", "--rm", "--entrypoint", "/app", "drover-test/app:v1", "-check", url+"/health"); err != nil {
		t.Errorf("from a container on %s: %v %s", h2.Name, err, out)
	}
	// the image's own healthcheck runs and passes
	waitFor(t, 15*time.Second, "container healthy", func() bool {
		return hostDocker(t, h1.Name, "inspect", "--format", "{{.State.Health.Status}}", name) == "healthy"
	})
}

func TestLabStopStart(t *testing.T) {
	l := lab(t)
	ensureImages(t)
	h := l.Host(t, "h2")
	name := "labtest-keep"
	hostDockerErr(t, h.Name, "rm", "-f", name)
	t.Cleanup(func() {
		if pingDocker(h.DockerSock, 2*time.Second) != nil {
			labCmdErr(t, "start", h.Name)
		}
		hostDockerErr(t, h.Name, "rm", "-f", name)
	})
	hostDocker(t, h.Name, "run", "-d", "--name", name, "--restart", "unless-stopped", "-p", "18082:8080", "drover-test/app:v1")
	url := fmt.Sprintf("http://%s:18082/health", h.Addr)
	waitFor(t, 15*time.Second, "app answers", func() bool { _, _, err := httpGet(url, time.Second); return err == nil })

	start := time.Now()
	labCmd(t, "stop", h.Name)
	t.Logf("stop took %s", time.Since(start).Round(time.Millisecond))
	if err := dial(h.Addr+":22", 2*time.Second); err == nil {
		t.Errorf("sshd of stopped %s still accepts connections", h.Name)
	}
	if err := pingDocker(h.DockerSock, 2*time.Second); err == nil {
		t.Errorf("engine of stopped %s still answers", h.Name)
	}
	if _, _, err := httpGet(url, time.Second); err == nil {
		t.Errorf("container of stopped %s still answers", h.Name)
	}
	if out := labCmd(t, "status"); !strings.Contains(out, h.Name) || !regexpLine(out, h.Name, "stopped") {
		t.Errorf("status after stop:\n%s", out)
	}
	// the other hosts are untouched
	for _, o := range l.Hosts {
		if o.Name != h.Name {
			if err := pingDocker(o.DockerSock, 2*time.Second); err != nil {
				t.Errorf("%s went down with %s: %v", o.Name, h.Name, err)
			}
		}
	}

	start = time.Now()
	labCmd(t, "start", h.Name)
	t.Logf("start took %s", time.Since(start).Round(time.Millisecond))
	if out, err := sshLab(t, h, "hostname"); err != nil || out != h.Name {
		t.Errorf("ssh after start: %q %v", out, err)
	}
	waitFor(t, 30*time.Second, "restart-policy container running again", func() bool {
		out, err := hostDockerErr(t, h.Name, "inspect", "--format", "{{.State.Running}}", name)
		return err == nil && out == "true"
	})
	waitFor(t, 15*time.Second, "app answers again", func() bool { _, _, err := httpGet(url, time.Second); return err == nil })
}

func regexpLine(out, host, word string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[0] == host {
			return strings.Contains(line, word)
		}
	}
	return false
}

func TestLabCutHeal(t *testing.T) {
	l := lab(t)
	h := l.Host(t, "h3")
	t.Cleanup(func() { labCmdErr(t, "heal", h.Name) })
	if err := dial(h.Addr+":22", 2*time.Second); err != nil {
		t.Fatalf("%s unreachable before cut: %v", h.Name, err)
	}
	labCmd(t, "cut", h.Name)
	if err := dial(h.Addr+":22", time.Second); err == nil {
		t.Errorf("%s reachable after cut", h.Name)
	}
	// ... from another host too
	if out, err := sshLab(t, l.Hosts[0], fmt.Sprintf("timeout 2 bash -c 'exec 3<>/dev/tcp/%s/22' 2>/dev/null && echo reachable || echo unreachable", h.Addr)); err != nil || out != "unreachable" {
		t.Errorf("from %s after cut: %q %v", l.Hosts[0].Name, out, err)
	}
	// its engine is still there (the shared socket is not the network)
	if err := pingDocker(h.DockerSock, 2*time.Second); err != nil {
		t.Errorf("engine of cut host: %v", err)
	}
	labCmd(t, "heal", h.Name)
	waitFor(t, 10*time.Second, h.Name+" reachable after heal", func() bool { return dial(h.Addr+":22", time.Second) == nil })
	if out, err := sshLab(t, h, "hostname"); err != nil || out != h.Name {
		t.Errorf("ssh after heal: %q %v", out, err)
	}
}

// TestLabForeignPlatform: the lab's linux/386 host (scripts/lab.sh add h4
// linux/386) is a real 386 engine for drover: node ls says linux/386, an
// archive with amd64 and 386 variants gives h4 the 386 one and the others
// the amd64 one, a replica of it runs on h4 and answers as a 386 binary,
// and an image the hosts hold for amd64 only is not placed on h4.
func TestLabForeignPlatform(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	h4 := l.Extra(t, "linux/386")
	inv := copyInventoryWith(t, h4)
	const img, amd, stack = "drover-test/multi386:v1", "drover-test/amd64only:v1", "e2eplatform"
	all := append(append([]LabHost(nil), l.Hosts...), h4)
	wantArch := func(h string) string {
		if h == h4.Name {
			return "386"
		}
		return "amd64"
	}

	if got := hostDocker(t, h4.Name, "info", "--format", "{{.OSType}} {{.Architecture}}"); got != "linux i686" {
		t.Errorf("%s: docker info says %q, want linux i686", h4.Name, got)
	}
	if got := hostDocker(t, h4.Name, "version", "--format", "{{.Server.Os}}/{{.Server.Arch}}"); got != "linux/386" {
		t.Errorf("%s: docker version says %q, want linux/386", h4.Name, got)
	}

	nodes, _, code := nodeLs(t, inv)
	if code != 0 || len(nodes) != len(all) {
		t.Fatalf("node ls: exit %d, %d nodes, want %d", code, len(nodes), len(all))
	}
	for _, h := range all {
		if n := nodes[h.Name]; n.Status != "Ready" || n.OS != "linux" || n.Arch != wantArch(h.Name) {
			t.Errorf("node ls %s: %+v, want Ready linux/%s", h.Name, n, wantArch(h.Name))
		}
	}
	var one nodeJSON
	if out, _, code := runDrover(t, inv, "node", "inspect", h4.Name); code != 0 || json.Unmarshal([]byte(out), &one) != nil || one.Arch != "386" || one.OS != "linux" {
		t.Errorf("node inspect %s: exit %d: %+v", h4.Name, code, one)
	}

	rmi := func() {
		for _, h := range all {
			hostDockerErr(t, h.Name, "rmi", "-f", img, amd)
		}
	}
	rmi()
	t.Cleanup(rmi)
	cleanupStack(t, inv, stack)
	t.Cleanup(func() { // cleanupStack looks at the inventory's hosts only
		ids, _ := hostDockerErr(t, h4.Name, "ps", "-aq", "--filter", "label=drover.stack="+stack)
		for _, id := range strings.Fields(ids) {
			hostDockerErr(t, h4.Name, "rm", "-f", id)
		}
	})

	archive := filepath.Join(imagesDir(t, "multi386-v1.oci.tar"), "multi386-v1.oci.tar")
	out := mustDrover(t, inv, "-o", "json", "image", "load", archive)
	var rows []loadRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err, out)
	}
	if len(rows) != len(all) {
		t.Fatalf("image load: %d rows, want one per host: %+v", len(rows), rows)
	}
	ids := map[string]string{}
	for _, r := range rows {
		want := "linux/" + wantArch(r.Host)
		if r.Result != "loaded" || r.Image != img || r.Platform != want || r.Bytes == 0 {
			t.Errorf("image load row %+v, want loaded %s", r, want)
		}
		got := hostDocker(t, r.Host, "image", "inspect", "--format", "{{.Id}} {{.Os}}/{{.Architecture}}", img)
		if got != r.ID+" "+want {
			t.Errorf("%s: %s is %q, want %s %s", r.Host, img, got, r.ID, want)
		}
		ids[wantArch(r.Host)] = r.ID
	}
	if ids["386"] == ids["amd64"] {
		t.Errorf("h4 and the amd64 hosts got the same image %s", ids["386"])
	}

	// An image the amd64 hosts hold and h4 lacks: its platform is amd64 only.
	for _, h := range l.Hosts {
		hostDocker(t, h.Name, "tag", "drover-test/app:v1", amd)
	}
	// No ports: the routing mesh on h4 (a 386 proxy) is
	// TestMeshMixedPlatforms'.
	file := filepath.Join(t.TempDir(), "platform.yml")
	os.WriteFile(file, []byte(`services:
  web:
    image: `+img+`
    deploy:
      replicas: 1
      placement: {constraints: [node.platform.arch == 386]}
  amd:
    image: `+amd+`
    deploy: {replicas: 4}
`), 0o644)
	mustDrover(t, inv, "stack", "deploy", "-c", file, stack)

	on4, err := hostDockerErr(t, h4.Name, "ps", "-a", "--filter", "label=drover.stack="+stack, "--format", `{{.ID}} {{.Label "drover.service"}} {{.State}}`)
	f := strings.Fields(on4)
	if err != nil || len(f) != 3 || f[1] != stack+"_web" || f[2] != "running" {
		t.Fatalf("containers on %s: %q %v, want the one web replica running", h4.Name, on4, err)
	}
	amdOn := perHost(stackContainers(t, stack), stack+"_amd")
	if n := amdOn["h1"] + amdOn["h2"] + amdOn["h3"]; n != 4 {
		t.Errorf("amd replicas on h1..h3: %v, want 4 (none on %s)", amdOn, h4.Name)
	}

	// The replica answers, from h4 itself (its bridge address), as a 386 binary.
	id := f[0]
	waitFor(t, 15*time.Second, "the 386 replica healthy", func() bool {
		return hostDocker(t, h4.Name, "inspect", "--format", "{{.State.Health.Status}}", id) == "healthy"
	})
	ip := hostDocker(t, h4.Name, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", id)
	body := labCmd(t, "exec", h4.Name, "busybox", "wget", "-q", "-O", "-", "http://"+ip+":8080/")
	if !strings.Contains(body, `"platform":"linux/386"`) || !strings.Contains(body, `"version":"multi386-v1"`) {
		t.Errorf("GET / of the replica on %s = %s, want platform linux/386, version multi386-v1", h4.Name, body)
	}
}
