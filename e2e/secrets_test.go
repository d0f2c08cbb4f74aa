//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Configs and secrets (issue 12), end to end: files delivered over SFTP
// into root-only directories of the hosts that run a replica, bind-mounted
// read-only, rotated by a rolling update, and never in clear text in what
// drover writes or prints.

// replicaExec runs the test app's own subcommand in every running replica
// of a stack and returns the outputs by container name.
func replicaExec(t *testing.T, stack string, args ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range stackContainers(t, stack) {
		if c.State != "running" {
			continue
		}
		s, err := hostDockerErr(t, c.Host, append([]string{"exec", c.ID, "/app"}, args...)...)
		if err != nil {
			s = "error: " + err.Error()
		}
		out[c.Name] = s
	}
	return out
}

// allSay checks that n replicas answered and every one said want.
func allSay(got map[string]string, n int, want string) bool {
	if len(got) != n {
		return false
	}
	for _, v := range got {
		if v != want {
			return false
		}
	}
	return true
}

// hostFiles lists drover's config and secret files of the test's cluster
// on every running host ("h1:/var/lib/drover/…").
func hostFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, h := range lab(t).Hosts {
		s, err := labCmdErr(t, "exec", h.Name, "sh", "-c",
			"find /var/lib/drover/secrets/"+testCluster(t)+" /var/lib/drover/configs/"+testCluster(t)+" -type f 2>/dev/null; true")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			if l != "" {
				out = append(out, h.Name+":"+l)
			}
		}
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSecretsExternal is the book's v6 shape: a config and a secret made
// with `config create` / `secret create`, declared external, mounted into
// every replica, which reads both; `secret update` rolls the new content
// out; `secret rm` of the used secret is refused, and after `stack rm` it
// works and no host keeps a file.
func TestSecretsExternal(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	dir := filepath.Dir(inv)
	const stack = "e2etodo"
	cleanupStack(t, inv, stack)
	cfg, sec := filepath.Join(dir, "config.json"), filepath.Join(dir, "secrets.json")
	writeFile(t, cfg, `{"Logging":{"Level":"Information"}}`+"\n")
	writeFile(t, sec, `{"ConnectionStrings":{"ToDoDb":"Password=e2e-EXT-pa55"}}`+"\n")
	mustDrover(t, inv, "config", "create", "--label", "app=todo", "todo-list-config", cfg)
	mustDrover(t, inv, "secret", "create", "todo-db-password", sec)
	if _, _, code := runDrover(t, inv, "secret", "create", "todo-db-password", sec); code == 0 {
		t.Error("creating an existing secret again succeeded")
	}
	compose := filepath.Join(dir, "v6.yml")
	writeFile(t, compose, `services:
  todo-web:
    image: drover-test/app:v1
    deploy:
      replicas: 3
      placement: {max_replicas_per_node: 1}
      update_config: {parallelism: 3, monitor: 1s}
    configs:
      - source: todo-list-config
        target: /etc/todo/config/config.json
    secrets:
      - source: todo-db-password
        target: /etc/todo/config/secrets.json
configs:
  todo-list-config:
    external: true
secrets:
  todo-db-password:
    external: true
`)
	mustDrover(t, inv, "stack", "deploy", "-c", compose, stack)
	waitAllHealthy(t, stack, 3)
	if got := replicaExec(t, stack, "-cat", "/etc/todo/config/config.json"); !allSay(got, 3, `{"Logging":{"Level":"Information"}}`) {
		t.Errorf("config in the replicas: %v", got)
	}
	if got := replicaExec(t, stack, "-cat", "/etc/todo/config/secrets.json"); !allSay(got, 3, `{"ConnectionStrings":{"ToDoDb":"Password=e2e-EXT-pa55"}}`) {
		t.Errorf("secret in the replicas: %v", got)
	}
	// Swarm's defaults: 0444, root.
	if got := replicaExec(t, stack, "-stat", "/etc/todo/config/secrets.json"); !allSay(got, 3, "0444 0 0 file") {
		t.Errorf("secret's mode and owner: %v", got)
	}
	// The files sit in root-only directories on each host.
	perm, err := labCmdErr(t, "exec", "h1", "stat", "-c", "%a %U", "/var/lib/drover/secrets", "/var/lib/drover/secrets/"+testCluster(t))
	if f := strings.Fields(perm); err != nil || len(f) != 4 || f[0] != "700" || f[2] != "700" {
		t.Errorf("secret directories on h1: %q %v", perm, err)
	}

	// Rotation by `secret update`: every service that mounts it rolls.
	writeFile(t, sec, `{"ConnectionStrings":{"ToDoDb":"Password=e2e-EXT-r0tated"}}`+"\n")
	if out := mustDrover(t, inv, "secret", "update", "todo-db-password", sec); !strings.Contains(out, "3 replaced") {
		t.Errorf("secret update: %s", out)
	}
	if got := replicaExec(t, stack, "-cat", "/etc/todo/config/secrets.json"); !allSay(got, 3, `{"ConnectionStrings":{"ToDoDb":"Password=e2e-EXT-r0tated"}}`) {
		t.Errorf("after secret update the replicas see %v", got)
	}

	ls := mustDrover(t, inv, "-o", "json", "secret", "ls")
	if !strings.Contains(ls, `"todo-db-password"`) || !strings.Contains(ls, `"e2etodo_todo-web"`) {
		t.Errorf("secret ls -o json does not list the secret and its service:\n%s", ls)
	}
	if out := mustDrover(t, inv, "secret", "inspect", "--pretty", "todo-db-password"); strings.Contains(out, "e2e-EXT-pa55") {
		t.Errorf("secret inspect --pretty printed the value:\n%s", out)
	}
	if out := mustDrover(t, inv, "config", "inspect", "--pretty", "todo-list-config"); !strings.Contains(out, `"Level":"Information"`) || !strings.Contains(out, "app=todo") {
		t.Errorf("config inspect --pretty shows no content or label:\n%s", out)
	}

	_, stderr, code := runDrover(t, inv, "secret", "rm", "todo-db-password")
	if code == 0 || !strings.Contains(stderr, "e2etodo_todo-web") {
		t.Errorf("secret rm of a used secret: exit %d, stderr %q (want refused, naming the service)", code, stderr)
	}
	mustDrover(t, inv, "stack", "rm", stack)
	mustDrover(t, inv, "secret", "rm", "todo-db-password")
	mustDrover(t, inv, "config", "rm", "todo-list-config")
	if files := hostFiles(t); len(files) > 0 {
		t.Errorf("files left on the hosts after stack rm: %v", files)
	}
	if out := mustDrover(t, inv, "secret", "ls"); strings.Contains(out, "todo-db-password") {
		t.Errorf("secret still listed after rm:\n%s", out)
	}
}

// TestSecretsCompose: file- and environment-based secrets and configs in
// the compose file, with default and custom targets, modes and owners;
// rotation by changing the file (a rolling update; a content that makes
// the healthcheck fail rolls back to the old one);
// reconcile restores a removed and an altered file; and no secret value
// shows up in the state file, its backup, a plan file, state pull, the
// history, service inspect or a debug log.
func TestSecretsCompose(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	dir := filepath.Dir(inv)
	const stack = "e2esec"
	cleanupStack(t, inv, stack)
	pw, tok := filepath.Join(dir, "db_password.txt"), "E2E-ENV-tok3n"
	values := []string{"E2E-ONE-pa55", tok}
	writeFile(t, pw, "E2E-ONE-pa55")
	writeFile(t, filepath.Join(dir, "app.conf"), "colour=blue\n")
	compose := filepath.Join(dir, "stack.yml")
	writeFile(t, compose, `services:
  api:
    image: drover-test/app:v1
    environment:
      HEALTH_FILE: /run/secrets/db_password
    deploy:
      replicas: 3
      update_config: {parallelism: 2, monitor: 1s, failure_action: rollback}
      rollback_config: {parallelism: 2, monitor: 1s}
    secrets:
      - db_password
      - source: api_token
        target: token
        uid: "1000"
        gid: "1001"
        mode: 0400
    configs:
      - app_conf
      - source: app_conf
        target: /etc/app/app.conf
        mode: 0440
secrets:
  db_password:
    file: ./db_password.txt
  api_token:
    environment: E2E_API_TOKEN
configs:
  app_conf:
    file: ./app.conf
`)
	env := map[string]string{"E2E_API_TOKEN": tok}
	deploy := func(args ...string) (string, string, int) {
		return deployEnv(t, inv, compose, stack, env, args...)
	}
	_, debugLog, code := deploy("--log-level", "debug")
	if code != 0 {
		t.Fatalf("deploy: exit %d", code)
	}
	waitAllHealthy(t, stack, 3)
	checks := []struct {
		args []string
		want string
	}{
		{[]string{"-cat", "/run/secrets/db_password"}, "E2E-ONE-pa55"},
		{[]string{"-stat", "/run/secrets/db_password"}, "0444 0 0 file"},
		{[]string{"-cat", "/run/secrets/token"}, tok},
		{[]string{"-stat", "/run/secrets/token"}, "0400 1000 1001 file"},
		{[]string{"-cat", "/app_conf"}, "colour=blue"},
		{[]string{"-stat", "/etc/app/app.conf"}, "0440 0 0 file"},
	}
	for _, c := range checks {
		if got := replicaExec(t, stack, c.args...); !allSay(got, 3, c.want) {
			t.Errorf("/app %s: %v, want %q everywhere", strings.Join(c.args, " "), got, c.want)
		}
	}
	// Only hosts that run a replica hold files: one file per mount here.
	if files := hostFiles(t); len(files) != 3*4 {
		t.Errorf("host files: %d, want 12 (4 per host): %v", len(files), files)
	}

	// Rotation by the file: a rolling update, every replica sees it.
	writeFile(t, pw, "E2E-TWO-pa55")
	values = append(values, "E2E-TWO-pa55")
	planFile := filepath.Join(dir, "rotate.plan")
	os.Setenv("E2E_API_TOKEN", tok)
	_, _, code = runDrover(t, inv, "plan", "-c", compose, "--out", planFile, stack)
	os.Unsetenv("E2E_API_TOKEN")
	if code != 0 {
		t.Fatalf("plan --out: exit %d", code)
	}
	// The saved plan carries the new version (sealed): apply rolls it out
	// without the compose files' environment.
	out, stderr, code := runDrover(t, inv, "apply", planFile)
	if code != 0 || !strings.Contains(out, "3 replaced") {
		t.Fatalf("rotation through apply of the saved plan: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "batch 2 of 2") || !strings.Contains(out, "(secret e2esec_db_password changed)") {
		t.Errorf("the rotation was not a rolling update in 2 batches naming the secret:\n%s\n%s", out, stderr)
	}
	waitFor(t, 30*time.Second, "every replica sees the new password", func() bool {
		return allSay(replicaExec(t, stack, "-cat", "/run/secrets/db_password"), 3, "E2E-TWO-pa55")
	})
	waitFor(t, 30*time.Second, "the old version's files pruned", func() bool { return len(hostFiles(t)) == 12 })

	// A content that makes the healthcheck fail rolls back.
	writeFile(t, pw, "unhealthy E2E-BAD-pa55")
	values = append(values, "E2E-BAD-pa55")
	_, stderr, code = deploy()
	if code == 0 || !strings.Contains(stderr, "rollback") {
		t.Errorf("bad rotation: exit %d (want a rollback)\n%s", code, stderr)
	}
	waitAllHealthy(t, stack, 3)
	if got := replicaExec(t, stack, "-cat", "/run/secrets/db_password"); !allSay(got, 3, "E2E-TWO-pa55") {
		t.Errorf("after the rollback the replicas see %v, want the previous password", got)
	}

	// reconcile restores a removed file and an altered one.
	files := hostFiles(t)
	var victim string
	for _, f := range files {
		if strings.HasPrefix(f, "h2:") && strings.Contains(f, "/secrets/") && strings.Contains(f, "db_password") {
			victim = strings.TrimPrefix(f, "h2:")
		}
	}
	if victim == "" {
		t.Fatalf("no db_password file on h2: %v", files)
	}
	labCmd(t, "exec", "h2", "sh", "-c", "rm -f "+victim)
	tokFile := ""
	for _, f := range files {
		if strings.HasPrefix(f, "h3:") && strings.Contains(f, "api_token") {
			tokFile = strings.TrimPrefix(f, "h3:")
		}
	}
	labCmd(t, "exec", "h3", "sh", "-c", "echo tampered > "+tokFile+" && chmod 0666 "+tokFile)
	mustDrover(t, inv, "reconcile")
	if s, err := labCmdErr(t, "exec", "h2", "cat", victim); err != nil || strings.TrimSpace(s) != "E2E-TWO-pa55" {
		t.Errorf("reconcile did not restore the removed file: %q %v", s, err)
	}
	if s, err := labCmdErr(t, "exec", "h3", "stat", "-c", "%a %u %g", tokFile); err != nil || strings.TrimSpace(s) != "400 1000 1001" {
		t.Errorf("reconcile did not restore the altered file's mode: %q %v", s, err)
	}
	if got := replicaExec(t, stack, "-cat", "/run/secrets/token"); !allSay(got, 3, tok) {
		t.Errorf("after reconcile the running replicas see %v (the repair is in place)", got)
	}

	// No secret value in what drover keeps or prints.
	pull := mustDrover(t, inv, "state", "pull")
	show := mustDrover(t, inv, "state", "show")
	history := mustDrover(t, inv, "state", "history")
	inspect := mustDrover(t, inv, "service", "inspect", stack+"_api")
	secretInspect := mustDrover(t, inv, "secret", "inspect", "--pretty", stack+"_db_password")
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
		}
		return string(b)
	}
	places := map[string]string{
		"state file":        read(filepath.Join(dir, "drover.state.json")),
		"state backup":      read(filepath.Join(dir, "drover.state.json.backup")),
		"plan file":         read(planFile),
		"state pull":        pull,
		"state show":        show,
		"state history":     history,
		"service inspect":   inspect,
		"secret inspect":    secretInspect,
		"debug deploy logs": debugLog,
	}
	if !strings.Contains(debugLog, "DBG") && !strings.Contains(debugLog, "debug") {
		t.Errorf("the debug deploy logged nothing at debug level:\n%s", debugLog)
	}
	for where, text := range places {
		for _, v := range values {
			if strings.Contains(text, v) {
				t.Errorf("%s holds the secret value %q", where, v)
			}
		}
	}
	if !strings.Contains(places["state file"], "drover-sealed:v1:") {
		t.Error("the state file holds no sealed secret")
	}
}

// TestSecretsHostRestart: a crashed host comes back (lab stop / start)
// and docker's restart policy starts the replica with its files before
// drover runs again.
func TestSecretsHostRestart(t *testing.T) {
	ensureImages(t)
	inv := copyInventory(t)
	dir := filepath.Dir(inv)
	const stack = "e2esecboot"
	cleanupStack(t, inv, stack)
	writeFile(t, filepath.Join(dir, "pw.txt"), "E2E-BOOT-pa55")
	compose := filepath.Join(dir, "stack.yml")
	writeFile(t, compose, `services:
  api:
    image: drover-test/app:v1
    deploy:
      mode: global
      placement: {constraints: [node.hostname == h2]}
    secrets: [pw]
    configs:
      - source: conf
        target: /etc/app.conf
secrets:
  pw:
    file: ./pw.txt
configs:
  conf:
    content: "boot=1"
`)
	mustDrover(t, inv, "stack", "deploy", "-c", compose, stack)
	waitAllHealthy(t, stack, 1)
	// Only the host that runs the replica holds its files.
	if files := hostFiles(t); len(files) != 2 || !strings.HasPrefix(files[0], "h2:") || !strings.HasPrefix(files[1], "h2:") {
		t.Errorf("host files %v, want the config and the secret on h2 only", files)
	}
	t.Cleanup(func() {
		if pingDocker(lab(t).Host(t, "h2").DockerSock, 2*time.Second) != nil {
			labCmdErr(t, "start", "h2")
		}
	})
	labCmd(t, "stop", "h2")
	labCmd(t, "start", "h2")
	waitFor(t, 60*time.Second, "the replica running again on h2", func() bool {
		cs := stackContainers(t, stack)
		return len(cs) == 1 && cs[0].State == "running"
	})
	got := replicaExec(t, stack, "-cat", "/run/secrets/pw")
	conf := replicaExec(t, stack, "-cat", "/etc/app.conf")
	if !allSay(got, 1, "E2E-BOOT-pa55") || !allSay(conf, 1, "boot=1") {
		t.Errorf("after the restart, before drover ran: secret %v, config %v", got, conf)
	}
	if out := mustDrover(t, inv, "plan", "-c", compose, stack); !strings.Contains(out, "No changes") {
		t.Errorf("plan after the restart is not empty:\n%s", out)
	}

	// Without its file a replica does not start: docker never puts an
	// empty directory in the file's place. reconcile brings both back.
	files := hostFiles(t)
	var secret string
	for _, f := range files {
		if strings.Contains(f, "/secrets/") {
			secret = strings.TrimPrefix(f, "h2:")
		}
	}
	labCmd(t, "exec", "h2", "rm", "-f", secret)
	id := stackContainers(t, stack)[0].ID
	if _, err := hostDockerErr(t, "h2", "restart", "-t", "1", id); err == nil {
		t.Error("a replica whose secret file is gone restarted")
	}
	if out, _ := labCmdErr(t, "exec", "h2", "sh", "-c", "test -e "+secret+" && echo exists || echo missing"); strings.TrimSpace(out) != "missing" {
		t.Errorf("docker made something at the missing file's path: %s", out)
	}
	mustDrover(t, inv, "reconcile")
	waitAllHealthy(t, stack, 1)
	if got := replicaExec(t, stack, "-cat", "/run/secrets/pw"); !allSay(got, 1, "E2E-BOOT-pa55") {
		t.Errorf("after reconcile: %v", got)
	}
}
