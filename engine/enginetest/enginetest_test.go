package enginetest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh"
)

func TestSplitRoundTripsJoin(t *testing.T) {
	argvs := [][]string{
		{"docker", "create", "--name", "demo_web.1.x", "--label", "a=b c", "--health-cmd", `/app -check 'http://x/ y'`, "img:v1"},
		{"sudo", "-n", "docker", "start", "it's", "", "$(id)", "a;b", "x&&y", `back\slash`, `"dq"`, "new\nline", "if", "A=b", "=x", "~home", "*"},
	}
	line := ssh.Join(argvs[0]) + " && " + ssh.Join(argvs[1]) + " ; " + ssh.Join([]string{"docker", "rm", "x"})
	got, err := Split(line)
	if err != nil {
		t.Fatal(err)
	}
	want := []Command{{Op: "", Args: argvs[0]}, {Op: "&&", Args: argvs[1]}, {Op: ";", Args: []string{"docker", "rm", "x"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Split\n got %q\nwant %q", got, want)
	}
}

func TestSplitRefusesWhatItCannotSimulate(t *testing.T) {
	for _, line := range []string{"docker ps | wc -l", "docker ps > /tmp/x", "echo $HOME", "echo `id`", "ls *", "'open", "&& docker ps", "docker ps &&", `echo "$x"`, "(docker ps)"} {
		if cmds, err := Split(line); err == nil {
			t.Errorf("Split(%q) = %q, want an error", line, cmds)
		}
	}
	got, err := Split(`a "b \"c\" \$d" e\ f`)
	if err != nil || !reflect.DeepEqual(got, []Command{{Args: []string{"a", `b "c" $d`, "e f"}}}) {
		t.Errorf("double quotes and escapes: %q %v", got, err)
	}
}

func run(t *testing.T, h *Host, args ...string) (string, string, error) {
	t.Helper()
	res, err := h.Run(context.Background(), ssh.Cmd{Args: args})
	return string(res.Stdout), string(res.Stderr), err
}

func exitCode(err error) int {
	var xe *ssh.ExitError
	if errors.As(err, &xe) {
		return xe.Code
	}
	return -1
}

func TestUnknownCommandsExit127(t *testing.T) {
	h := NewHost("h1")
	for _, argv := range [][]string{
		{"docker", "system", "prune"},
		{"docker", "ps"}, // only -q is simulated
		{"docker", "run", "--rm", "x"},
		{"docker", "create", "--gpus", "all", "img"}, // unknown flag: docker's own exit 125
		{"curl", "x"},
		{"sh", "-c", "docker ps | wc -l"},
		{"sh", "-c", "echo hi", "drover-unknown"},
		{"sh", "-c", "d info", "drover-observe", "c", "plain", "full"}, // not engine's script
	} {
		_, stderr, err := run(t, h, argv...)
		want := 127
		if argv[1] == "create" {
			want = 125
		}
		if code := exitCode(err); code != want {
			t.Errorf("%q: exit %d (%v), want %d", argv, code, err, want)
		}
		if want == 127 && !strings.Contains(stderr, "enginetest") {
			t.Errorf("%q: stderr %q does not say the fake lacks it", argv, stderr)
		}
	}
}

func TestChainSemantics(t *testing.T) {
	h := NewHost("h1")
	h.AddImage("img:v1")
	// create ok, start of a missing container fails, the && stops; the ;
	// still runs.
	line := ssh.Join([]string{"docker", "create", "--name", "a", "img:v1"}) + " && " +
		ssh.Join([]string{"docker", "start", "missing"}) + " && " +
		ssh.Join([]string{"docker", "start", "a"}) + " ; " +
		ssh.Join([]string{"docker", "stop", "a"})
	_, stderr, err := run(t, h, "sh", "-c", line)
	if err != nil {
		t.Fatalf("last command of the list succeeded, so must the list: %v %s", err, stderr)
	}
	c, ok := h.Container("a")
	if !ok || c.State != "created" {
		t.Fatalf("container a: %+v %v (start must have been skipped)", c, ok)
	}
	if got := len(h.Mutations()); got != 2 { // create, stop
		t.Errorf("mutations %q", h.Mutations())
	}
}

func TestFailNextAndDown(t *testing.T) {
	h := NewHost("h1")
	h.AddImage("img")
	h.FailNext("docker start")
	line := ssh.Join([]string{"docker", "create", "--name", "a", "img"}) + " && " + ssh.Join([]string{"docker", "start", "a"})
	_, _, err := run(t, h, "sh", "-c", line)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("err %v", err)
	}
	if c, _ := h.Container("a"); c.State != "created" {
		t.Errorf("state %q: the create ran, the start failed", c.State)
	}
	// The rule fired once.
	if _, _, err := run(t, h, "docker", "start", "a"); err != nil {
		t.Fatal(err)
	}
	h.SetDown(true)
	_, _, err = run(t, h, "docker", "ps", "-q")
	if r := ssh.Reason(err); r != "connection refused" {
		t.Errorf("down host: reason %q (%v)", r, err)
	}
	if h.Calls() != 3 {
		t.Errorf("calls %d", h.Calls())
	}
}

func TestPortConflictAndBehaviour(t *testing.T) {
	h := NewHost("h1")
	h.Clock = &Clock{}
	h.Clock.Set(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	h.AddImage("web")
	h.AddImage("crash")
	h.SetBehaviour("web", ImageBehaviour{Health: "healthy", HealthAfter: 10 * time.Second})
	h.SetBehaviour("crash", ImageBehaviour{ExitImmediately: true, ExitCode: 2})
	for _, n := range []string{"a", "b"} {
		if _, _, err := run(t, h, "docker", "create", "--name", n, "--publish", "8080:80/tcp", "web"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := run(t, h, "docker", "start", "a"); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, h, "docker", "start", "b")
	if err == nil || !strings.Contains(err.Error(), "port is already allocated") {
		t.Fatalf("second bind of 8080: %v", err)
	}
	if c, _ := h.Container("a"); c.Health != "starting" {
		t.Errorf("health before HealthAfter: %q", c.Health)
	}
	h.Clock.Advance(10 * time.Second)
	if c, _ := h.Container("a"); c.Health != "healthy" {
		t.Errorf("health after HealthAfter: %q", c.Health)
	}
	run(t, h, "docker", "create", "--name", "c1", "--restart", "no", "crash")
	run(t, h, "docker", "create", "--name", "c2", "--restart", "always", "crash")
	run(t, h, "docker", "start", "c1")
	run(t, h, "docker", "start", "c2")
	if c, _ := h.Container("c1"); c.State != "exited" || c.ExitCode != 2 {
		t.Errorf("c1 %s %d", c.State, c.ExitCode)
	}
	if c, _ := h.Container("c2"); c.State != "restarting" || c.RestartCount != 1 {
		t.Errorf("c2 %s restarts %d", c.State, c.RestartCount)
	}
}

func TestCreatePullsFromRegistry(t *testing.T) {
	h := NewHost("h1")
	h.Registry = NewRegistry("app:v1")
	if _, _, err := run(t, h, "docker", "create", "--name", "a", "app:v1"); err != nil {
		t.Fatal(err)
	}
	_, _, err := run(t, h, "docker", "create", "--name", "b", "app:v2")
	if exitCode(err) != 125 || !strings.Contains(err.Error(), "Unable to find image") {
		t.Fatalf("missing tag: %v", err)
	}
	_, stderr, err := run(t, h, "docker", "pull", "--quiet", "app:v2")
	if err == nil || !strings.Contains(stderr, "manifest for app:v2 not found") {
		t.Errorf("pull of a missing tag: %v %s", err, stderr)
	}
	_, stderr, _ = run(t, h, "docker", "pull", "--quiet", "nope")
	if !strings.Contains(stderr, "pull access denied for nope") {
		t.Errorf("pull of a missing repository: %s", stderr)
	}
}
