//go:build e2e

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// buildKitCLI puts first in PATH a docker CLI with BuildKit built in
// (docker.io 20.10, which scripts/lab.sh installs; CLIs from 23.0 on need
// the buildx plugin for BuildKit), so that drover's probe finds it: the
// first docker in PATH may be a newer CLI without buildx.
func buildKitCLI(t *testing.T) {
	t.Helper()
	path := os.Getenv("PATH")
	for _, dir := range append(filepath.SplitList(path), "/usr/bin") {
		bin := filepath.Join(dir, "docker")
		if _, err := os.Stat(bin); err != nil {
			continue
		}
		cmd := exec.Command(bin, "build", "--help")
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
		out, err := cmd.Output()
		if err != nil || !bytes.Contains(out, []byte("--secret")) {
			continue
		}
		first := t.TempDir()
		if err := os.Symlink(bin, filepath.Join(first, "docker")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", first+string(os.PathListSeparator)+path)
		t.Logf("docker CLI with built-in BuildKit: %s", bin)
		return
	}
	missing(t, "no docker CLI with built-in BuildKit in PATH or /usr/bin (docker.io 20.10; scripts/lab.sh up installs it)")
}

// sshAgent starts an ssh-agent (no keys: a RUN --mount=type=ssh needs the
// socket forwarded, nothing more) and points SSH_AUTH_SOCK at it.
func sshAgent(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-agent"); err != nil {
		missing(t, "no ssh-agent (openssh-client; scripts/lab.sh up installs openssh)")
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitFor(t, 10*time.Second, "ssh-agent's socket", func() bool { _, err := os.Stat(sock); return err == nil })
	t.Setenv("SSH_AUTH_SOCK", sock)
}

// The build secrets' values of the BuildKit tests.
const token, note = "e2e-token-7f3a91c4", "e2e-note-52be08d1"

// buildKitProject writes a project whose service web builds, FROM base,
// a target stage app whose RUNs mount the build secrets tok (from the
// environment, E2E_BUILD_TOKEN) and note (a file) and the ssh agent, then
// a stage broken that fails (printing tok) if it is built. compose(TARGET)
// is the compose file; extra goes into service web.
func buildKitProject(t *testing.T, base, token, note, extra string) (string, func(target string) string) {
	t.Helper()
	t.Setenv("E2E_BUILD_TOKEN", token)
	sshAgent(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "web"), 0o755)
	os.WriteFile(filepath.Join(dir, "note.txt"), []byte(note+"\n"), 0o600)
	// Stage app is the target; stage broken after it would fail the build
	// if it ran. The RUN records the secrets' digests, not their values.
	os.WriteFile(filepath.Join(dir, "web", "Dockerfile"), []byte("FROM "+base+" AS app\n"+
		"RUN --mount=type=secret,id=tok --mount=type=secret,id=note cat /run/secrets/tok | sha256sum > /tok.sha256 && cat /run/secrets/note | sha256sum > /note.sha256\n"+
		"RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo forwarded > /ssh-agent\n"+
		"COPY . /ctx/\n"+
		"ENV VERSION=bk1\n"+
		"FROM app AS broken\n"+
		"RUN --mount=type=secret,id=tok echo \"about to fail, token $(cat /run/secrets/tok)\"; cat /nope; exit 3\n"), 0o644)
	compose := func(target string) string {
		return "secrets:\n  tok: {environment: E2E_BUILD_TOKEN}\n  note: {file: ./note.txt}\n" +
			"services:\n  web:\n    build:\n      context: ./web\n      target: " + target + "\n      secrets: [tok, note]\n      ssh: [default]\n" + extra +
			"    deploy: {replicas: 2, update_config: {parallelism: 2, monitor: 1s}}\n"
	}
	// Not in the context (.dockerignore): not in the image's /ctx.
	os.WriteFile(filepath.Join(dir, "web", ".dockerignore"), []byte("*.log\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "web", "debug.log"), []byte("not in the context"), 0o644)
	return dir, compose
}

// TestDeployBuildKit: with no buildx, the docker CLI's own BuildKit builds
// a target stage whose RUN mounts two build secrets (compose secrets from
// environment: and file:) and the ssh agent (ssh: [default]); the
// replicas run it; the secrets' values are in
// no output of drover, not in the state, the image's history, config or
// layers; an unchanged deploy changes nothing; a failing RUN shows
// BuildKit's last lines (the secret it prints redacted) and changes
// nothing; DOCKER_BUILDKIT=0 builds with the classic builder and warns
// about the secrets it cannot pass.
func TestDeployBuildKit(t *testing.T) {
	ensureImages(t)
	base := shellImage(t)
	buildKitCLI(t)
	l := lab(t)
	inv := copyInventory(t)
	const stack = "e2ebuildkit"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", l.Host(t, "h1").DockerHost())
	dir, compose := buildKitProject(t, base, token, note, "")
	file := filepath.Join(dir, "compose.yml")
	os.WriteFile(file, []byte(compose("app")), 0o644)
	var shown []string // everything drover printed

	out, stderr, code := runDrover(t, inv, "-o", "json", "stack", "deploy", "--build", "-c", file, stack)
	shown = append(shown, out, stderr)
	if code != 0 {
		t.Fatalf("deploy --build: exit %d", code)
	}
	if !strings.Contains(stderr, "building with the local engine (DOCKER_HOST="+l.Host(t, "h1").DockerHost()+", BuildKit built into the docker CLI)") ||
		!strings.Contains(stderr, "builder=buildkit") {
		t.Errorf("the start line does not say BuildKit:\n%s", stderr)
	}
	if strings.Contains(stderr, "not honoured") {
		t.Errorf("a warning about a key BuildKit honours:\n%s", stderr)
	}
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_web"), 2)
	img := only(t, imagesOf(t, stack, "web"))
	if !strings.Contains(img, "VERSION=bk1") {
		t.Errorf("web runs %q, want the app stage (VERSION=bk1)", img)
	}
	ref := strings.Fields(img)[0]
	checkBuildKitReplica(t, stack)
	// Unchanged: BuildKit's cache gives the same image ID, the same tag.
	out, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "--detailed-exitcode", "-c", file, stack)
	shown = append(shown, out, stderr)
	if code != 0 {
		t.Errorf("unchanged deploy --build --detailed-exitcode: exit %d, want 0 (nothing to do)", code)
	}
	if got := only(t, imagesOf(t, stack, "web")); got != img {
		t.Errorf("unchanged build: web runs %q, was %q", got, img)
	}

	// A failing RUN: BuildKit's useful last lines, nothing changed.
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte(compose("broken")), 0o644)
	out, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", bad, stack)
	shown = append(shown, out, stderr)
	if code != 1 || !strings.Contains(stderr, "nothing was changed: building "+stack+"_web") || !strings.Contains(stderr, "last lines of the build") {
		t.Errorf("failing RUN: exit %d\n%s", code, stderr)
	}
	lines := stderr[strings.Index(stderr, "last lines of the build"):]
	for _, want := range []string{"[broken 1/1] RUN", "about to fail, token [redacted]", "cat: can't open '/nope'", "exit code: 3"} {
		if !strings.Contains(lines, want) {
			t.Errorf("the last lines lack %q:\n%s", want, lines)
		}
	}
	if regexp.MustCompile(`#\d+ (sha256:|DONE |CACHED)`).MatchString(lines) {
		t.Errorf("BuildKit's progress noise in the last lines:\n%s", lines)
	}
	if got := only(t, imagesOf(t, stack, "web")); got != img {
		t.Errorf("after a failed build web runs %q, want %q", got, img)
	}

	// DOCKER_BUILDKIT=0: the classic builder, which cannot pass secrets
	// (a Dockerfile without RUN --mount builds; the key is warned about).
	os.MkdirAll(filepath.Join(dir, "plain"), 0o755)
	os.WriteFile(filepath.Join(dir, "plain", "Dockerfile"), []byte("FROM "+base+"\nENV VERSION=plain\n"), 0o644)
	classic := filepath.Join(dir, "classic.yml")
	os.WriteFile(classic, []byte("secrets:\n  tok: {environment: E2E_BUILD_TOKEN}\nservices:\n  plain:\n    build:\n      context: ./plain\n      secrets: [tok]\n"), 0o644)
	t.Setenv("DOCKER_BUILDKIT", "0")
	out, stderr, code = runDrover(t, inv, "-o", "json", "build", "-c", classic, "--stack", stack)
	shown = append(shown, out, stderr)
	var res []struct{ Service, Builder string }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res) != 1 || res[0].Builder != "classic" {
		t.Errorf("DOCKER_BUILDKIT=0 build: exit %d, %s", code, out)
	}
	if !strings.Contains(stderr, "key build.secrets is not honoured by the classic builder (DOCKER_BUILDKIT=0)") || !strings.Contains(stderr, "the classic builder)") {
		t.Errorf("DOCKER_BUILDKIT=0: no classic start line or secrets warning:\n%s", stderr)
	}

	secretsNowhere(t, inv, "h1", ref, shown)
}

// checkBuildKitReplica: a replica of the stack's web runs the image of
// buildKitProject's app stage: its RUNs saw both secrets (their digests)
// and the ssh agent, and its context left out what .dockerignore names.
func checkBuildKitReplica(t *testing.T, stack string) {
	t.Helper()
	digest := func(s string) string { d := sha256.Sum256([]byte(s)); return hex.EncodeToString(d[:]) }
	c := running(filterService(stackContainers(t, stack), stack+"_web"))[0]
	if got := hostDocker(t, c.Host, "exec", c.ID, "/bin/sh", "-c", "cat /ssh-agent"); got != "forwarded" {
		t.Errorf("the RUN had no ssh agent socket: %q", got)
	}
	if got := hostDocker(t, c.Host, "exec", c.ID, "/bin/sh", "-c", "cat /tok.sha256 /note.sha256"); !strings.Contains(got, digest(token)) || !strings.Contains(got, digest(note+"\n")) {
		t.Errorf("the RUN did not see the secrets: digests %q, want %s and %s", got, digest(token), digest(note+"\n"))
	}
	if got := hostDocker(t, c.Host, "exec", c.ID, "/bin/sh", "-c", "ls /ctx"); !strings.Contains(got, "Dockerfile") || strings.Contains(got, "debug.log") {
		t.Errorf("the context (.dockerignore: *.log) held %q", got)
	}
}

// secretsNowhere: the build secrets' values are in nothing drover printed
// (shown), nor in its state, nor in the image ref on host (history,
// config, layers).
func secretsNowhere(t *testing.T, inv, host, ref string, shown []string) {
	t.Helper()
	state, _ := os.ReadFile(filepath.Join(filepath.Dir(inv), "drover.state.json"))
	history := hostDocker(t, host, "history", "--no-trunc", ref)
	config := hostDocker(t, host, "image", "inspect", ref)
	var saved bytes.Buffer
	save := exec.Command("docker", "-H", lab(t).Host(t, host).DockerHost(), "save", ref)
	save.Stdout = &saved
	if err := save.Run(); err != nil || saved.Len() == 0 {
		t.Fatalf("docker save %s: %v", ref, err)
	}
	for what, s := range map[string]string{"drover's output": strings.Join(shown, "\n"), "the state file": string(state),
		"the image history": history, "the image config": config, "the image's layers": saved.String()} {
		for _, v := range []string{token, note} {
			if strings.Contains(s, v) {
				t.Errorf("a secret's value (%s…) is in %s", v[:8], what)
			}
		}
	}
	if !strings.Contains(history, "sha256sum > /tok.sha256") {
		t.Errorf("the history lacks the RUN (a check that looks at nothing proves nothing):\n%s", history)
	}
}

// TestDeployBuildKitOn: with no local engine, x-drover.build_on: h2
// builds with h2's BuildKit through a session on the run's SSH connection
// (the context, secrets and ssh agent served from here): the replicas run
// the target stage, which saw the secrets and the agent; the secrets'
// values are nowhere; an unchanged deploy changes nothing; a failing RUN
// shows BuildKit's last lines, redacted, and changes nothing;
// DOCKER_BUILDKIT=0 builds with the host's classic builder and warns.
func TestDeployBuildKitOn(t *testing.T) {
	ensureImages(t)
	base := shellImage(t)
	inv := copyInventory(t)
	const stack = "e2ebuildkiton"
	cleanupBuiltImages(t)
	cleanupStack(t, inv, stack)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	dir, compose := buildKitProject(t, base, token, note, "    x-drover: {build_on: h2}\n")
	file := filepath.Join(dir, "compose.yml")
	os.WriteFile(file, []byte(compose("app")), 0o644)
	var shown []string

	out, stderr, code := runDrover(t, inv, "-o", "json", "stack", "deploy", "--build", "-c", file, stack)
	shown = append(shown, out, stderr)
	if code != 0 {
		t.Fatalf("deploy --build: exit %d", code)
	}
	if !strings.Contains(stderr, "building with host h2 (BuildKit)") || !strings.Contains(stderr, "builder=buildkit") || strings.Contains(stderr, "not honoured") {
		t.Errorf("the start line does not say BuildKit on h2, or a warning:\n%s", stderr)
	}
	slotsOK(t, filterService(stackContainers(t, stack), stack+"_web"), 2)
	img := only(t, imagesOf(t, stack, "web"))
	if !strings.Contains(img, "VERSION=bk1") {
		t.Errorf("web runs %q, want the app stage (VERSION=bk1)", img)
	}
	checkBuildKitReplica(t, stack)

	out, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "--detailed-exitcode", "-c", file, stack)
	shown = append(shown, out, stderr)
	if code != 0 {
		t.Errorf("unchanged deploy --build --detailed-exitcode: exit %d, want 0 (nothing to do)", code)
	}

	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte(compose("broken")), 0o644)
	out, stderr, code = runDrover(t, inv, "stack", "deploy", "--build", "-c", bad, stack)
	shown = append(shown, out, stderr)
	if code != 1 || !strings.Contains(stderr, "nothing was changed: building "+stack+"_web with host h2 (BuildKit)") {
		t.Errorf("failing RUN: exit %d\n%s", code, stderr)
	}
	if i := strings.Index(stderr, "last lines of the build"); i < 0 || !strings.Contains(stderr[i:], "about to fail, token [redacted]") || !strings.Contains(stderr[i:], "exit code: 3") {
		t.Errorf("failing RUN: the last lines lack the RUN's output or its exit code:\n%s", stderr)
	}
	if got := only(t, imagesOf(t, stack, "web")); got != img {
		t.Errorf("after a failed build web runs %q, want %q", got, img)
	}

	t.Setenv("DOCKER_BUILDKIT", "0")
	os.MkdirAll(filepath.Join(dir, "plain"), 0o755)
	os.WriteFile(filepath.Join(dir, "plain", "Dockerfile"), []byte("FROM "+base+"\nENV VERSION=plain\n"), 0o644)
	classic := filepath.Join(dir, "classic.yml")
	os.WriteFile(classic, []byte("secrets:\n  tok: {environment: E2E_BUILD_TOKEN}\nservices:\n  plain:\n    build:\n      context: ./plain\n      secrets: [tok]\n    x-drover: {build_on: h2}\n"), 0o644)
	out, stderr, code = runDrover(t, inv, "-o", "json", "build", "-c", classic, "--stack", stack)
	shown = append(shown, out, stderr)
	if code != 0 || !strings.Contains(out, `"builder": "classic"`) || !strings.Contains(stderr, "key build.secrets is not honoured when building on a host (the engine's classic builder, DOCKER_BUILDKIT=0)") {
		t.Errorf("DOCKER_BUILDKIT=0 on h2: exit %d\n%s\n%s", code, out, stderr)
	}
	secretsNowhere(t, inv, "h2", strings.Fields(img)[0], shown)
}
