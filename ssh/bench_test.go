package ssh

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/drover-sh/drover/ssh/sshtest"
)

// BenchmarkFanOut200 measures one run against 200 hosts: a fresh Pool dials
// every host (handshake, host key check, auth) and runs one command with a
// ~1 KiB reply, 32 at a time. Each host is its own in-process server with
// its own host key, so the numbers include the server side's CPU too.
func BenchmarkFanOut200(b *testing.B) {
	const hosts = 200
	reply := `{"ID":"` + strings.Repeat("a", 64) + `","Containers":12,"Images":40,"Driver":"overlay2",` +
		`"Labels":[` + strings.Repeat(`"drover.role=worker",`, 40) + `"x"]}` + "\n"
	info := func(cmd string, _ io.Reader, stdout, _ io.Writer) int {
		io.WriteString(stdout, reply)
		return 0
	}
	env := newTestEnv(b)
	clientKey := sshtest.NewKey(b)
	cfgs := make(map[string]Config, hosts)
	names := make([]string, hosts)
	for i := range names {
		names[i] = fmt.Sprintf("node%03d", i)
		_, cfg := env.server(b, "node", info, sshtest.WithClientKey(clientKey))
		cfg.Name = names[i]
		cfgs[names[i]] = cfg
	}
	resolve := func(name string) (Config, error) { return cfgs[name], nil }

	b.ReportAllocs()
	for b.Loop() {
		p := NewPool(resolve, PoolOptions{})
		err := p.ForEach(context.Background(), names, 32, func(ctx context.Context, _ string, c *Client) error {
			res, err := c.Run(ctx, Cmd{Args: []string{"docker", "info", "--format", "{{json .}}"}})
			if err == nil && len(res.Stdout) != len(reply) {
				err = fmt.Errorf("short reply: %d bytes", len(res.Stdout))
			}
			return err
		})
		p.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}
