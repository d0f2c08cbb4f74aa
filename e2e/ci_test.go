//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ciJob runs a command as a CI runner does: `env -i` with only the job's
// variables. No HOME, no ~/.ssh, no SSH_AUTH_SOCK, no TTY (stdin is empty).
type ciJob struct {
	t   *testing.T
	dir string
	env map[string]string
}

func (j *ciJob) run(name string, args ...string) (string, string, int) {
	j.t.Helper()
	envArgs := []string{"-i"}
	for k, v := range j.env {
		envArgs = append(envArgs, k+"="+v)
	}
	envArgs = append(append(envArgs, name), args...)
	cmd := exec.Command("env", envArgs...)
	cmd.Dir = j.dir
	cmd.Stdin = strings.NewReader("")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	j.t.Logf("[ci] %s %s → %d\n--- stdout\n%s--- stderr\n%s", name, strings.Join(args, " "), code, clip(o.String()), clip(e.String()))
	return o.String(), e.String(), code
}

// without returns a copy of the job lacking the variable k.
func (j *ciJob) without(k string) *ciJob {
	cp := &ciJob{t: j.t, dir: j.dir, env: map[string]string{}}
	for kk, v := range j.env {
		if kk != k {
			cp.env[kk] = v
		}
	}
	return cp
}

var sshFileLine = regexp.MustCompile(`(?m)^\s*(identity_file|known_hosts):.*\n`)

// TestCIJob: the pipeline of docs/ci.md as a script under env -i, with the
// SSH key, known_hosts and state key in variables and the state on the
// managers; a missing piece is an error naming its variable.
func TestCIJob(t *testing.T) {
	ensureImages(t)
	l := lab(t)
	const stack = "e2eci"
	cluster := testCluster(t)
	dir := t.TempDir()

	// The inventory a repository would hold: no key or known_hosts files.
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	inv := clusterLine.ReplaceAllString(string(b), "cluster: "+cluster)
	inv = sshFileLine.ReplaceAllString(inv, "")
	inv = regexp.MustCompile(`(?ms)^state:\n(  .*?\n)+`).ReplaceAllString(inv, "state:\n  backend: managers\n  dir: /var/lib/drover/"+cluster+"\n")
	if strings.Contains(inv, "id_ed25519") || !strings.Contains(inv, "backend: managers") {
		t.Fatalf("inventory not rewritten:\n%s", inv)
	}
	os.WriteFile(filepath.Join(dir, "inventory.yaml"), []byte(inv), 0o644)
	key, err := os.ReadFile(filepath.Join(l.Dir, "id_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	known, err := os.ReadFile(filepath.Join(l.Dir, "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	stateKey := make([]byte, 32)
	rand.Read(stateKey)
	bin := droverBin(t)
	os.Symlink(bin, filepath.Join(dir, "drover"))
	job := &ciJob{t: t, dir: dir, env: map[string]string{
		"PATH":               dir + ":/usr/bin:/bin",
		"CI":                 "true",
		"DROVER_INVENTORY":   filepath.Join(dir, "inventory.yaml"),
		"DROVER_SSH_KEY":     string(key),
		"DROVER_KNOWN_HOSTS": string(known),
		"DROVER_STATE_KEY":   base64.StdEncoding.EncodeToString(stateKey),
	}}
	t.Cleanup(func() {
		job.run("drover", "stack", "rm", stack)
		for _, h := range l.Hosts {
			hostDockerErr(t, h.Name, "rmi", "-f", "drover-test/multi:v1")
		}
		for _, h := range l.Hosts {
			if h.Name == "h1" {
				sshLab(t, h, "rm -rf /var/lib/drover/"+cluster)
			}
		}
	})
	for _, h := range l.Hosts {
		hostDockerErr(t, h.Name, "rmi", "-f", "drover-test/multi:v1")
	}

	// Missing pieces: each error names what to set.
	for _, c := range []struct {
		drop string
		want string
	}{
		{"DROVER_SSH_KEY", "set DROVER_SSH_KEY"},
		{"DROVER_KNOWN_HOSTS", "set DROVER_KNOWN_HOSTS"},
	} {
		if _, stderr, code := job.without(c.drop).run("drover", "image", "ls", "drover-test/app:v1"); code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("without %s: exit %d, want an error naming it", c.drop, code)
		}
	}
	partial := job.without("DROVER_KNOWN_HOSTS")
	partial.env["DROVER_KNOWN_HOSTS"] = strings.SplitN(string(known), "\n", 2)[0]
	if _, stderr, code := partial.run("drover", "image", "ls", "drover-test/app:v1"); code != 1 || !strings.Contains(stderr, "is not in $DROVER_KNOWN_HOSTS") {
		t.Errorf("known_hosts without h2 and h3: exit %d", code)
	}
	if _, stderr, code := partial.run("drover", "--accept-new-host-keys", "node", "ls"); code != 1 || !strings.Contains(stderr, "cannot record keys in DROVER_KNOWN_HOSTS") {
		t.Errorf("--accept-new-host-keys with DROVER_KNOWN_HOSTS: exit %d", code)
	}

	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("services:\n  web:\n    image: drover-test/multi:v1\n    deploy:\n      replicas: 3\n      update_config: {parallelism: 1, monitor: 5s, failure_action: rollback}\n"), 0o644)
	present := filepath.Join(dir, "present.yml")
	os.WriteFile(present, []byte("services:\n  web:\n    image: drover-test/app:v1\n"), 0o644)
	if _, stderr, code := job.without("DROVER_STATE_KEY").run("drover", "stack", "deploy", "-c", present, stack); code != 1 || !strings.Contains(stderr, "set DROVER_STATE_KEY") {
		t.Errorf("without DROVER_STATE_KEY: exit %d, want an error naming it", code)
	}
	if n := len(stackContainers(t, stack)); n != 0 {
		t.Fatalf("%d containers created by a run that lacked the state key", n)
	}

	script := filepath.Join(l.RepoRoot, "e2e", "testdata", "ci-deploy.sh")
	archive := filepath.Join(imagesDir(t, "multi-v1.oci.tar"), "multi-v1.oci.tar")
	out, _, code := job.run("sh", script, archive, good, stack)
	if code != 0 || !strings.Contains(out, "ci: deploying "+stack) || !strings.Contains(out, "ci: deployed, state serial") {
		t.Fatalf("first pipeline run: exit %d", code)
	}
	slotsOK(t, stackContainers(t, stack), 3)

	// The same commit again: nothing to do.
	if out, _, code := job.run("sh", script, archive, good, stack); code != 0 || !strings.Contains(out, "is up to date") {
		t.Errorf("second pipeline run: exit %d", code)
	}

	// A release whose replicas crash: the job fails and shows the outcome.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte(strings.Replace(string(mustRead(t, good)), "image: drover-test/multi:v1", "image: drover-test/app:crash", 1)), 0o644)
	_, stderr, code := job.run("sh", script, archive, bad, stack)
	if code != 1 || !strings.Contains(stderr, "rollout outcome:") || !strings.Contains(stderr, stack+"_web: rollback_completed") {
		t.Errorf("failing release: exit %d, want 1 with the rollout outcome", code)
	}
	var doc struct {
		Applied  bool
		ExitCode int `json:"exit_code"`
		Error    string
		Result   struct {
			Services []struct{ Service, State string }
		}
	}
	dec := json.NewDecoder(bytes.NewReader(mustRead(t, filepath.Join(dir, "deploy.json"))))
	if err := dec.Decode(&doc); err != nil || dec.More() {
		t.Fatalf("deploy.json is not one JSON document: %v", err)
	}
	if !doc.Applied || doc.ExitCode != 1 || doc.Error == "" || len(doc.Result.Services) != 1 || doc.Result.Services[0].State != "rollback_completed" {
		t.Errorf("deploy.json %+v", doc)
	}
	for _, c := range running(stackContainers(t, stack)) {
		if img := hostDocker(t, c.Host, "inspect", "--format", "{{.Config.Image}}", c.ID); img != "drover-test/multi:v1" {
			t.Errorf("%s runs %s after the rollback", c.Name, img)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
