package mesh

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/mesh/proxy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./mesh/ -update creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (go test ./mesh/ -update rewrites it)\n--- got\n%s", path, got)
	}
}

func replica(id, name, host, svc string, port uint32, ip string) cluster.Replica {
	return cluster.Replica{ID: id, Name: name, Host: host, Service: svc, State: cluster.StateRunning,
		Bindings: []cluster.Binding{{Target: 8080, Protocol: "tcp", HostIP: "127.0.0.1", HostPort: port}},
		IPs:      []string{ip}}
}

func sampleInput() Input {
	web := &cluster.Service{Stack: "shop", Name: "web", Container: cluster.ContainerSpec{Ports: []cluster.Port{
		{Target: 8080, Published: 8088, Protocol: "tcp", Mode: cluster.PortIngress},
		{Target: 9090, Published: 9090, Protocol: "tcp", Mode: cluster.PortHost},
	}}}
	dns := &cluster.Service{Stack: "shop", Name: "dns", Container: cluster.ContainerSpec{Ports: []cluster.Port{
		{Target: 53, Published: 53, Protocol: "udp", Mode: cluster.PortIngress, HostIP: "0.0.0.0"},
	}}}
	d := replica("d1", "shop_dns.1.a", "h2", "shop_dns", 0, "172.18.0.9")
	d.Bindings = []cluster.Binding{{Target: 53, Protocol: "udp", HostIP: "127.0.0.1", HostPort: 32800}}
	old := &cluster.Service{Stack: "shop", Name: "old", Container: cluster.ContainerSpec{Ports: []cluster.Port{
		{Target: 8080, Published: 7000, Protocol: "tcp", Mode: cluster.PortIngress},
	}}}
	o := replica("o1", "shop_old.1.a", "h1", "shop_old", 0, "172.18.0.8")
	o.Bindings = []cluster.Binding{{Target: 8080, Protocol: "tcp", HostIP: "0.0.0.0", HostPort: 7000}}
	stopped := replica("w9", "shop_web.9.z", "h1", "shop_web", 32790, "172.18.0.7")
	stopped.State = cluster.StateExited
	return Input{
		Nodes: []Node{
			{Name: "h1", Address: "10.0.0.11", Ready: true, Availability: cluster.Active},
			{Name: "h2", Address: "10.0.0.12", Ready: true, Availability: cluster.Drain},
			{Name: "h3", Address: "10.0.0.13", Ready: false},
			{Name: "h4", Address: "h4.example", Ready: true},
		},
		Services: map[string]*cluster.Service{"shop_web": web, "shop_dns": dns, "shop_old": old},
		Replicas: []cluster.Replica{
			replica("w1", "shop_web.1.a", "h1", "shop_web", 32768, "172.18.0.2"),
			replica("w2", "shop_web.2.b", "h2", "shop_web", 32769, "172.18.0.3"),
			replica("w3", "shop_web.3.c", "h1", "shop_web", 32770, "172.18.0.4"),
			replica("w4", "shop_web.4.d", "h3", "shop_web", 32768, "172.18.0.5"), // host down: not observed, never routed
			replica("x1", "other_api.1.e", "h1", "other_api", 32771, "172.18.0.6"),
			stopped, d, o,
		},
		Exclude: map[string]bool{"w3": true},
		Version: "test",
	}
}

// TestCompute: every ready node routes each ingress port over the running,
// not excluded replicas of all ready nodes; gates only where the replica
// runs; host-mode ports and unknown services are not routed; a node with
// a name for an address is left out with a warning, and so is an ingress
// port whose replicas still bind it on their host (an older drover's).
func TestCompute(t *testing.T) {
	configs, warnings := Compute(sampleInput())
	var out strings.Builder
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		out.WriteString("== " + h + "\n")
		c := configs[h]
		if c == nil {
			out.WriteString("(no proxy)\n")
			continue
		}
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := proxy.ParseConfig(b); err != nil {
			t.Errorf("%s: the proxy refuses the config: %v", h, err)
		}
		out.Write(b)
	}
	out.WriteString("== warnings\n" + strings.Join(warnings, "\n") + "\n")
	golden(t, "compute.golden", []byte(out.String()))
}

func TestComputeNothingToRoute(t *testing.T) {
	in := sampleInput()
	in.Services = map[string]*cluster.Service{}
	configs, _ := Compute(in)
	if len(configs) != 0 {
		t.Errorf("no service, yet proxies on %v", configs)
	}
}

func TestProxyImageRefusesDynamicOrForeign(t *testing.T) {
	p := filepath.Join(t.TempDir(), "drover")
	os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	_, err := ProxyImage(p, "1.0")
	var ns *NotStaticError
	if !errors.As(err, &ns) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("a script as the proxy binary: %v", err)
	}
}

func TestImageTag(t *testing.T) {
	a, b := ImageTag([]byte("x"), "1.2.3+dirty"), ImageTag([]byte("y"), "1.2.3+dirty")
	if a == b || !strings.HasPrefix(a, "drover-proxy:1.2.3_dirty-") {
		t.Errorf("tags %q %q", a, b)
	}
}

func TestServes(t *testing.T) {
	st := &proxy.Status{Routes: []proxy.RouteStatus{
		{Name: "shop_web 80/tcp", Backends: []proxy.BackendStatus{{Address: "10.0.0.2:32768", Replica: "shop_web.1.abc@h2"}}},
		{Name: "shop_web 80/tcp (gate shop_web.2.def)", Gate: "id2", Backends: []proxy.BackendStatus{{Address: "172.18.0.3:80", Replica: "shop_web.2.def"}}},
	}}
	for replica, want := range map[string]bool{
		"shop_web.1.abc": true,  // a backend of another host's gate
		"shop_web.2.def": true,  // this host's gate
		"shop_web.1.ab":  false, // a prefix of a name is another replica
		"shop_web.3.ghi": false,
	} {
		if got := Serves(st, replica); got != want {
			t.Errorf("Serves(%s) = %v, want %v", replica, got, want)
		}
	}
}
