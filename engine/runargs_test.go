package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func TestCreateArgs(t *testing.T) {
	grace := 12500 * time.Millisecond
	yes := true
	spec := &cluster.ContainerSpec{
		Image:      "app:v1",
		Command:    []string{"serve", "--port", "80"},
		Entrypoint: []string{"/bin/tini", "--"},
		Env:        map[string]string{"B": "two words", "A": `$x "q" ; $(id)`},
		Labels:     map[string]string{"team": "x"},
		Ports: []cluster.Port{
			{Target: 80, Published: 8080, Protocol: "tcp", Mode: "host"},
			{Target: 53, Protocol: "udp"},
			{Target: 443, Published: 443, HostIP: "::1"},
		},
		Mounts: []cluster.Mount{
			{Type: "volume", Source: "demo_data", Target: "/data"},
			{Type: "bind", Source: "/srv/a,b", Target: "/a", ReadOnly: true},
		},
		Networks:    []cluster.NetworkAttachment{{Name: "demo_front", Aliases: []string{"web"}}, {Name: "demo_back"}},
		Healthcheck: &cluster.Healthcheck{Test: []string{"CMD", "/app", "-check", "http://x/ y"}, Interval: time.Second, Retries: 3},
		Restart:     "unless-stopped",
		Limits:      cluster.Resources{NanoCPUs: 500000000, MemoryBytes: 64 << 20, Pids: 100},
		User:        "1000", StopGracePeriod: &grace, StopSignal: "SIGINT", Init: &yes, ReadOnly: true,
		Ulimits: map[string]cluster.Ulimit{"nofile": {Soft: 1024, Hard: 2048}},
		Tmpfs:   []string{"/tmp:size=64m"},
	}
	args, env, err := CreateArgs(Container{Name: "demo_web.1.abc", Labels: map[string]string{"drover.cluster": "lab"}, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"create", "--name", "demo_web.1.abc",
		"--label", "drover.cluster=lab", "--label", "team=x",
		"--env-file", "/dev/stdin",
		"--publish", "8080:80/tcp", "--publish", "53/udp", "--publish", "[::1]:443:443/tcp",
		"--mount", "type=volume,source=demo_data,target=/data",
		"--mount", `type=bind,"source=/srv/a,b",target=/a,readonly`,
		"--network", "demo_front", "--network-alias", "web",
		"--health-cmd", `/app -check 'http://x/ y'`, "--health-interval", "1s", "--health-retries", "3",
		"--restart", "unless-stopped", "--cpus", "0.5", "--memory", "67108864", "--pids-limit", "100",
		"--user", "1000", "--stop-timeout", "13", "--stop-signal", "SIGINT", "--read-only", "--init",
		"--ulimit", "nofile=1024:2048", "--tmpfs", "/tmp:size=64m",
		"--entrypoint", "/bin/tini", "app:v1", "--", "serve", "--port", "80"}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("args\n got %q\nwant %q", args, want)
	}
	if string(env) != "A=$x \"q\" ; $(id)\nB=two words\n" {
		t.Errorf("env file %q", env)
	}
	for _, a := range args {
		if strings.Contains(a, "$(id)") {
			t.Errorf("an environment value leaked into argv: %q", a)
		}
	}
	extra := ExtraNetworks(Container{Name: "n", Spec: spec})
	if !reflect.DeepEqual(extra, [][]string{{"network", "connect", "demo_back", "n"}}) {
		t.Errorf("extra networks %q", extra)
	}
}

func TestCreateArgsRejectsNewlineEnv(t *testing.T) {
	_, _, err := CreateArgs(Container{Name: "x", Spec: &cluster.ContainerSpec{Image: "i", Env: map[string]string{"K": "a\nb"}}})
	if err == nil || strings.Contains(err.Error(), "a\nb") {
		t.Fatalf("err %v (must reject without echoing the value)", err)
	}
}

func TestHealthArgs(t *testing.T) {
	cases := map[string]struct {
		h    cluster.Healthcheck
		want []string
	}{
		"disable":   {cluster.Healthcheck{Disable: true}, []string{"--no-healthcheck"}},
		"none":      {cluster.Healthcheck{Test: []string{"NONE"}}, []string{"--no-healthcheck"}},
		"cmd-shell": {cluster.Healthcheck{Test: []string{"CMD-SHELL", "curl -f localhost || exit 1"}}, []string{"--health-cmd", "curl -f localhost || exit 1"}},
		"cmd":       {cluster.Healthcheck{Test: []string{"CMD", "pg_isready", "-U", "it's me"}, StartPeriod: 5 * time.Second}, []string{"--health-cmd", `pg_isready -U 'it'\''s me'`, "--health-start-period", "5s"}},
	}
	for name, c := range cases {
		if got := healthArgs(&c.h); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %q want %q", name, got, c.want)
		}
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":                        "nginx:latest",
		"docker.io/library/nginx:1.25": "nginx:1.25",
		"localhost:5000/app":           "localhost:5000/app:latest",
		"localhost:5000/app:v2":        "localhost:5000/app:v2",
		"app@sha256:abc":               "app@sha256:abc",
	} {
		if got := NormalizeRef(in); got != want {
			t.Errorf("NormalizeRef(%q) = %q, want %q", in, got, want)
		}
	}
}
