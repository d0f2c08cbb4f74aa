package command

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/state"
)

func nodeAddRmCommands(stdio IO) []*cli.Command {
	return []*cli.Command{
		{
			Name:      "add",
			Usage:     "connect to a new host, check it, and append it to the inventory (comments kept)",
			ArgsUsage: "NAME ADDRESS",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "role", Value: "worker", Usage: "manager or worker"},
				&cli.StringSliceFlag{Name: "label", Usage: "node label `K=V`"},
				&cli.StringFlag{Name: "user", Usage: "SSH user for this host (default: the inventory's)"},
				&cli.IntFlag{Name: "port", Usage: "SSH port for this host (default: the inventory's)"},
			},
			Action: func(c *cli.Context) error { return runNodeAdd(c, stdio) },
		},
		{
			Name:      "rm",
			Aliases:   []string{"remove"},
			Usage:     "drain a host, then remove it from the inventory and the state",
			ArgsUsage: "NAME",
			Action:    func(c *cli.Context) error { return runNodeRm(c, stdio) },
		},
	}
}

func runNodeAdd(c *cli.Context, stdio IO) error {
	if c.NArg() != 2 {
		return fmt.Errorf("usage: drover node add NAME ADDRESS [--role R] [--label K=V]")
	}
	name, addr := c.Args().Get(0), c.Args().Get(1)
	role := cluster.Role(c.String("role"))
	if role != cluster.Manager && role != cluster.Worker {
		return fmt.Errorf("--role %q: use manager or worker", role)
	}
	labels := map[string]string{}
	for _, kv := range c.StringSlice("label") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label %q: use K=V", kv)
		}
		labels[k] = v
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	if _, ok := e.inv.Host(name); ok {
		return fmt.Errorf("%s already has a host %q", e.inv.Path, name)
	}
	// Reach the host as the inventory would once it is added.
	h := cluster.Host{Name: name, Address: addr, Role: role, Labels: labels}
	h.SSH.User, h.SSH.Port = c.String("user"), c.Int("port")
	inv := *e.inv
	inv.Hosts = append(append([]cluster.Host{}, e.inv.Hosts...), h)
	e.inv = &inv
	e.pool.Close()
	e.pool = ssh.NewPool(e.sshConfigFor, ssh.PoolOptions{})
	cfg, err := e.sshConfigFor(name)
	if err != nil {
		return err
	}
	cl, err := e.pool.Client(c.Context, name)
	if err != nil {
		return fmt.Errorf("cannot add %s: %w", name, err)
	}
	fmt.Fprintf(stdio.Stdout, "%s (%s) host key: %s (in %s)\n", name, cfg.Endpoint.String(), cl.HostKeyFingerprint(), cfg.KnownHostsFile)
	eng, err := e.engineFor(c.Context, name)
	if err != nil {
		return fmt.Errorf("cannot add %s: %w", name, err)
	}
	facts, err := eng.Info(c.Context)
	if err != nil {
		return fmt.Errorf("cannot add %s: docker on %s: %w", name, addr, err)
	}
	err = cluster.AddHost(e.inv.Path, e.home, h)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "added %s to %s: docker %s, %s/%s, %d CPUs\n",
		name, e.inv.Path, facts.EngineVersion, facts.OS, facts.Arch, facts.CPUs)
	return nil
}

func runNodeRm(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "node rm NAME")
	if err != nil {
		return err
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	if _, ok := e.inv.Host(name); !ok {
		return fmt.Errorf("no node %q in %s", name, e.inv.Path)
	}
	if len(e.inv.Hosts) == 1 {
		return fmt.Errorf("%s is the inventory's only host", name)
	}
	// Drain first: its replicas move away through the rolling policy.
	err = e.runChange(c, change{
		Mutate: func(s *state.State) (string, error) {
			ns := s.Nodes[name]
			ns.Availability = cluster.Drain
			s.Nodes[name] = ns
			return "drain " + name + " before removing it", nil
		},
	})
	if err != nil {
		return fmt.Errorf("draining %s: %w (the host stays in the inventory)", name, err)
	}
	// Drained, it still answered on the ingress ports; leaving, it loses
	// its routing mesh proxy (a host that cannot be reached keeps it: see
	// docs/networking.md to remove it by hand).
	e.removeProxyFrom(c.Context, name)
	if err := cluster.RemoveHost(e.inv.Path, e.home, name); err != nil {
		return err
	}
	st, err := e.store()
	if err != nil {
		return err
	}
	d := e.deps(st)
	if _, err := d.Edit(c.Context, commandLine(c), func(s *state.State) (run.Record, error) {
		delete(s.Nodes, name)
		return run.Record{Summary: "removed node " + name}, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "drained and removed %s from %s\n", name, e.inv.Path)
	return nil
}
