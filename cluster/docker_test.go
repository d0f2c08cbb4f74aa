package cluster

import (
	"strings"
	"testing"
)

func TestInventoryDocker(t *testing.T) {
	src := `cluster: c
docker: {transport: streamlocal, socket: /run/docker.sock}
hosts:
  - {name: h1, address: 10.0.0.1}
  - {name: h2, address: 10.0.0.2, docker: {transport: dial-stdio}, ssh: {sudo: true}}
  - {name: h3, address: 10.0.0.3, docker: {socket: /srv/d.sock}}
`
	inv, err := ParseInventory("/x/inv.yaml", []byte(src), "/h")
	if err != nil {
		t.Fatal(err)
	}
	want := []DockerSettings{
		{Transport: StreamLocal, Socket: "/run/docker.sock"},
		{Transport: DialStdio, Socket: "/run/docker.sock"},
		{Transport: StreamLocal, Socket: "/srv/d.sock"},
	}
	for i, w := range want {
		if got := inv.DockerFor(&inv.Hosts[i]); got != w {
			t.Errorf("%s: %+v, want %+v", inv.Hosts[i].Name, got, w)
		}
	}

	inv, err = ParseInventory("/x/inv.yaml", []byte("cluster: c\nhosts: [{name: h1, address: a}]\n"), "/h")
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.DockerFor(&inv.Hosts[0]); got != (DockerSettings{Transport: DialStdio, Socket: DefaultDockerSocket}) {
		t.Errorf("defaults: %+v", got)
	}
}

func TestInventoryDockerErrors(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown transport", "cluster: c\ndocker: {transport: tcp}\nhosts: [{name: h1, address: a}]\n",
			`docker.transport "tcp": must be dial-stdio or streamlocal`},
		{"relative socket", "cluster: c\nhosts: [{name: h1, address: a, docker: {socket: docker.sock}}]\n",
			`hosts[h1].docker.socket "docker.sock": must be an absolute path`},
		{"unknown key", "cluster: c\ndocker: {host: x}\nhosts: [{name: h1, address: a}]\n",
			`host`},
		{"streamlocal with sudo", "cluster: c\nssh: {sudo: true}\nhosts:\n  - {name: h1, address: a}\n  - {name: h2, address: b, docker: {transport: streamlocal}}\n",
			"inv.yaml:5:5: host h2: docker.transport streamlocal cannot use ssh.sudo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseInventory("/x/inv.yaml", []byte(c.src), "/h")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}
