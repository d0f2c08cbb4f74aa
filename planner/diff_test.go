package planner

import (
	"reflect"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func TestDescribeChanges(t *testing.T) {
	grace := 10 * time.Second
	base := cluster.ContainerSpec{
		Image: "app:v1", Env: map[string]string{"A": "1"}, Labels: map[string]string{"team": "x"},
		Ports: []cluster.Port{{Target: 80, Published: 8080}}, Restart: "always",
	}
	tests := []struct {
		name   string
		change func(*cluster.ContainerSpec)
		want   []string
	}{
		{"image", func(c *cluster.ContainerSpec) { c.Image = "app:v2" }, []string{"image app:v1 → app:v2"}},
		{"env by name only", func(c *cluster.ContainerSpec) { c.Env = map[string]string{"A": "2", "B": "x"} }, []string{"env A changed", "env B added"}},
		{"env removed", func(c *cluster.ContainerSpec) { c.Env = nil }, []string{"env A removed"}},
		{"labels", func(c *cluster.ContainerSpec) { c.Labels = map[string]string{"team": "y"} }, []string{"label team changed"}},
		{"restart", func(c *cluster.ContainerSpec) { c.Restart = "" }, []string{"restart always → (default)"}},
		{"ports", func(c *cluster.ContainerSpec) { c.Ports[0].Published = 9090 }, []string{"ports changed"}},
		{"mounts", func(c *cluster.ContainerSpec) { c.Mounts = []cluster.Mount{{Type: "bind", Source: "/a", Target: "/b"}} }, []string{"mounts changed"}},
		{"networks", func(c *cluster.ContainerSpec) { c.Networks = []cluster.NetworkAttachment{{Name: "n"}} }, []string{"networks changed"}},
		{"secret by name only", func(c *cluster.ContainerSpec) {
			c.Files = []cluster.FileMount{{Kind: cluster.KindSecret, Name: "db", Version: "ab12", Target: "/run/secrets/db", Mode: 0o444}}
		}, []string{"secret db added"}},
		{"healthcheck", func(c *cluster.ContainerSpec) { c.Healthcheck = &cluster.Healthcheck{Test: []string{"NONE"}} }, []string{"healthcheck changed"}},
		{"limits", func(c *cluster.ContainerSpec) { c.Limits.MemoryBytes = 1 << 20 }, []string{"limits changed"}},
		{"other fields by JSON name", func(c *cluster.ContainerSpec) {
			c.User = "nobody"
			c.StopGracePeriod = &grace
			c.CapAdd = []string{"NET_ADMIN"}
		}, []string{"user changed", "stop_grace_period changed", "cap_add changed"}},
		{"empty equals nil", func(c *cluster.ContainerSpec) { c.CapDrop = []string{}; c.Sysctls = map[string]string{} }, []string{"spec changed"}},
	}
	for _, tt := range tests {
		cur := base
		cur.Ports = append([]cluster.Port(nil), base.Ports...)
		tt.change(&cur)
		if got := describeChanges(&base, &cur); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
