package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/drover-sh/drover/cluster"
)

func TestHealthConfig(t *testing.T) {
	cases := []struct {
		name string
		in   cluster.Healthcheck
		want []string
	}{
		{"exec form stays exec form", cluster.Healthcheck{Test: []string{"CMD", "/app", "-check", "http://localhost/ a"}}, []string{"CMD", "/app", "-check", "http://localhost/ a"}},
		{"shell form", cluster.Healthcheck{Test: []string{"CMD-SHELL", "curl -f localhost || exit 1"}}, []string{"CMD-SHELL", "curl -f localhost || exit 1"}},
		{"a string is shell form", cluster.Healthcheck{Test: []string{"true"}}, []string{"CMD-SHELL", "true"}},
		{"NONE disables", cluster.Healthcheck{Test: []string{"NONE"}}, []string{"NONE"}},
		{"disable: true disables", cluster.Healthcheck{Disable: true, Test: []string{"CMD", "x"}}, []string{"NONE"}},
		{"timings only keep the image's test", cluster.Healthcheck{Interval: time.Second}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := healthConfig(&c.in, "1.41")
			if !reflect.DeepEqual(got.Test, c.want) {
				t.Errorf("Test = %q, want %q", got.Test, c.want)
			}
		})
	}
	h := healthConfig(&cluster.Healthcheck{Test: []string{"CMD", "x"}, Interval: 2 * time.Second, Timeout: time.Second, StartPeriod: 5 * time.Second, Retries: 4}, "1.41")
	if h.Interval != 2*time.Second || h.Timeout != time.Second || h.StartPeriod != 5*time.Second || h.Retries != 4 {
		t.Errorf("timings %+v", h)
	}
	// start_interval exists from API 1.44 (Docker 25) on; older engines do
	// not know the field, so it is left out for them.
	si := &cluster.Healthcheck{Test: []string{"CMD", "x"}, StartPeriod: time.Minute, StartInterval: 200 * time.Millisecond}
	for v, want := range map[string]time.Duration{"1.41": 0, "1.43": 0, "1.44": 200 * time.Millisecond, "1.47": 200 * time.Millisecond} {
		if got := healthConfig(si, v).StartInterval; got != want {
			t.Errorf("API %s: start interval %v, want %v", v, got, want)
		}
	}
}

func TestCreateRequest(t *testing.T) {
	grace := 1500 * time.Millisecond
	yes := true
	spec := &cluster.ContainerSpec{
		Image:      "app:v1",
		Command:    []string{"serve", "--port", "80"},
		Entrypoint: []string{"/bin/app", "-v"},
		Env:        map[string]string{"MULTI": "line one\nline two", "ODD": `$HOME "q" 'q' \ é`},
		Labels:     map[string]string{"team": "a", cluster.LabelSlot: "overridden"},
		Ports:      []cluster.Port{{Target: 80, Published: 8080}, {Target: 53, Protocol: "udp"}, {Target: 443, Published: 8443, HostIP: "127.0.0.1"}},
		Mounts: []cluster.Mount{
			{Type: "volume", Source: "demo_data", Target: "/data", Options: []string{"volume-nocopy", "volume-label=a=b"}},
			{Type: "bind", Source: "/srv", Target: "/srv", ReadOnly: true, Options: []string{"bind-propagation=rshared"}},
			{Type: "tmpfs", Target: "/tmp", Options: []string{"tmpfs-size=1048576", "tmpfs-mode=1777"}},
		},
		Networks:        []cluster.NetworkAttachment{{Name: "demo_front", Aliases: []string{"web"}}, {Name: "demo_back", Aliases: []string{"w"}}},
		Restart:         "on-failure:3",
		Limits:          cluster.Resources{NanoCPUs: 500000000, MemoryBytes: 64 << 20, Pids: 100},
		StopGracePeriod: &grace,
		Init:            &yes,
		Ulimits:         map[string]cluster.Ulimit{"nofile": {Soft: 1024, Hard: 2048}},
		Tmpfs:           []string{"/run:size=64k"},
		Devices:         []string{"/dev/fuse", "/dev/a:/dev/b:r"},
	}
	req, err := createRequestFor(Container{Name: "demo_web.1.x", Labels: map[string]string{cluster.LabelSlot: "1"}, Spec: spec}, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	cfg, hc := req.Config, req.Host
	if want := []string{"MULTI=line one\nline two", `ODD=$HOME "q" 'q' \ é`}; !reflect.DeepEqual(cfg.Env, want) {
		t.Errorf("Env = %q, want %q (byte for byte)", cfg.Env, want)
	}
	if cfg.Labels["team"] != "a" || cfg.Labels[cluster.LabelSlot] != "1" {
		t.Errorf("labels %v: drover's must win over the spec's", cfg.Labels)
	}
	if !reflect.DeepEqual([]string(cfg.Entrypoint), []string{"/bin/app", "-v"}) || !reflect.DeepEqual([]string(cfg.Cmd), []string{"serve", "--port", "80"}) {
		t.Errorf("entrypoint %q cmd %q", cfg.Entrypoint, cfg.Cmd)
	}
	if string(hc.NetworkMode) != "demo_front" || len(req.Networking.EndpointsConfig) != 1 ||
		!reflect.DeepEqual(req.Networking.EndpointsConfig["demo_front"].Aliases, []string{"web"}) {
		t.Errorf("first network: mode %q, endpoints %v", hc.NetworkMode, req.Networking.EndpointsConfig)
	}
	if len(req.Connect) != 1 || req.Connect[0].Name != "demo_back" {
		t.Errorf("connect before start: %v", req.Connect)
	}
	if hc.RestartPolicy != (container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}) {
		t.Errorf("restart %+v", hc.RestartPolicy)
	}
	if hc.NanoCPUs != 500000000 || hc.Memory != 64<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 100 {
		t.Errorf("limits %d %d %v", hc.NanoCPUs, hc.Memory, hc.PidsLimit)
	}
	if cfg.StopTimeout == nil || *cfg.StopTimeout != 2 {
		t.Errorf("stop timeout %v, want 2 (rounded up)", cfg.StopTimeout)
	}
	b, _ := json.Marshal(hc.PortBindings)
	if got := string(b); got != `{"443/tcp":[{"HostIp":"127.0.0.1","HostPort":"8443"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":""}],"80/tcp":[{"HostIp":"","HostPort":"8080"}]}` {
		t.Errorf("port bindings %s", got)
	}
	if len(cfg.ExposedPorts) != 3 {
		t.Errorf("exposed %v", cfg.ExposedPorts)
	}
	m := hc.Mounts
	if len(m) != 3 || !m[0].VolumeOptions.NoCopy || m[0].VolumeOptions.Labels["a"] != "b" ||
		m[1].BindOptions.Propagation != mount.PropagationRShared || !m[1].ReadOnly ||
		m[2].TmpfsOptions.SizeBytes != 1<<20 || m[2].TmpfsOptions.Mode != 0o1777 {
		t.Errorf("mounts %+v", m)
	}
	if hc.Init == nil || !*hc.Init || len(hc.Ulimits) != 1 || hc.Ulimits[0].Hard != 2048 || hc.Tmpfs["/run"] != "size=64k" {
		t.Errorf("init %v ulimits %v tmpfs %v", hc.Init, hc.Ulimits, hc.Tmpfs)
	}
	if len(hc.Devices) != 2 || hc.Devices[0] != (container.DeviceMapping{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse", CgroupPermissions: "rwm"}) ||
		hc.Devices[1] != (container.DeviceMapping{PathOnHost: "/dev/a", PathInContainer: "/dev/b", CgroupPermissions: "r"}) {
		t.Errorf("devices %+v", hc.Devices)
	}
}

func TestCreateRequestRefuses(t *testing.T) {
	cases := []struct {
		name string
		spec cluster.ContainerSpec
		want string
	}{
		{"NUL in a value", cluster.ContainerSpec{Image: "a", Env: map[string]string{"K": "a\x00b"}}, "NUL"},
		{"bad name", cluster.ContainerSpec{Image: "a", Env: map[string]string{"A=B": "x"}}, "not valid"},
		{"bad restart", cluster.ContainerSpec{Image: "a", Restart: "sometimes"}, "restart"},
		{"unknown mount option", cluster.ContainerSpec{Image: "a", Mounts: []cluster.Mount{{Type: "bind", Source: "/a", Target: "/a", Options: []string{"frobnicate"}}}}, "unknown option"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := createRequestFor(Container{Name: "x", Spec: &c.spec}, "1.41")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestCreateRequestFiles: configs and secrets are read-only bind mounts of
// the cluster's host files, through Mounts (which never creates a missing
// source, unlike Binds); an unresolved mount is refused.
func TestCreateRequestFiles(t *testing.T) {
	f := cluster.FileMount{Kind: cluster.KindSecret, Name: "db", Version: "0a1b", Target: "/run/secrets/db", UID: 1, GID: 2, Mode: 0o400}
	req, err := createRequestFor(Container{Cluster: "prod", Name: "st_web.1.x", Spec: &cluster.ContainerSpec{Image: "x", Files: []cluster.FileMount{f}}}, "1.41")
	if err != nil {
		t.Fatal(err)
	}
	want := mount.Mount{Type: mount.TypeBind, Source: "/var/lib/drover/secrets/prod/db/0a1b-1-2-0400", Target: "/run/secrets/db", ReadOnly: true}
	if len(req.Host.Mounts) != 1 || !reflect.DeepEqual(req.Host.Mounts[0], want) || len(req.Host.Binds) != 0 {
		t.Errorf("mounts %+v binds %v, want %+v", req.Host.Mounts, req.Host.Binds, want)
	}
	f.Version = ""
	if _, err := createRequestFor(Container{Cluster: "prod", Spec: &cluster.ContainerSpec{Image: "x", Files: []cluster.FileMount{f}}}, "1.41"); err == nil {
		t.Error("a mount without a content version was created")
	}
}
