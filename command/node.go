package command

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/ssh"
	"github.com/drover-sh/drover/state"
)

func nodeCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "node",
		Usage: "list, inspect, update, add and remove the inventory's hosts",
		Subcommands: append([]*cli.Command{
			{
				Name:      "ls",
				Aliases:   []string{"list"},
				Usage:     "show every host: reachable or not, engine, platform, capacity",
				ArgsUsage: " ",
				Action:    func(c *cli.Context) error { return runNodeLs(c, stdio) },
			},
			{
				Name:      "update",
				Usage:     "set a node's availability and labels (kept in the state file) and converge",
				ArgsUsage: "NODE",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "availability", Usage: "active (take replicas), pause (keep, take no new ones) or drain (move them away)"},
					&cli.StringSliceFlag{Name: "label-add", Usage: "add or change a node label `K=V` (over the inventory's)"},
					&cli.StringSliceFlag{Name: "label-rm", Usage: "remove a node label `K`"},
				}, changeFlags()...),
				Action: func(c *cli.Context) error { return runNodeUpdate(c, stdio) },
			},
			{
				Name:      "inspect",
				Usage:     "print one host's facts as JSON",
				ArgsUsage: "NODE",
				Action:    func(c *cli.Context) error { return runNodeInspect(c, stdio) },
			},
		}, nodeAddRmCommands(stdio)...),
	}
}

// nodeView is a node as `node ls --output json` shows it.
type nodeView struct {
	Name          string            `json:"name"`
	Address       string            `json:"address"`
	Role          cluster.Role      `json:"role"`
	Status        string            `json:"status"` // Ready | Down
	Reason        string            `json:"reason,omitempty"`
	Availability  string            `json:"availability"`
	EngineVersion string            `json:"engine_version"`
	OS            string            `json:"os"`
	Arch          string            `json:"arch"`
	CPUs          int               `json:"cpus"`
	MemoryBytes   int64             `json:"memory_bytes"`
	Labels        map[string]string `json:"labels"`
}

// probeNodes asks every host for its facts, one round trip each, in parallel.
// Availability and labels come from the inventory merged with the state's
// node settings (read without a lock: listings change nothing).
func probeNodes(ctx context.Context, e *runEnv, names []string) []cluster.Node {
	s := state.New(e.inv.Cluster)
	if st, err := e.store(); err == nil {
		if got, err := e.readState(ctx, st); err == nil {
			s = got
		} else {
			e.log.Warn().Err(err).Msg("cannot read the state: availability and state labels not shown")
		}
	}
	all := map[string]cluster.Node{}
	for _, n := range run.Nodes(e.inv.Hosts, s) {
		all[n.Name] = n
	}
	nodes := make([]cluster.Node, len(names))
	idx := map[string]int{}
	for i, n := range names {
		nodes[i] = all[n]
		idx[n] = i
	}
	var mu sync.Mutex
	err := e.pool.ForEach(ctx, names, e.parallel, func(ctx context.Context, name string, c *ssh.Client) error {
		eng, err := e.engineFor(ctx, name)
		if err != nil {
			return err
		}
		facts, err := eng.Info(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		n := &nodes[idx[name]]
		facts.Apply(n)
		n.Ready = true
		mu.Unlock()
		return nil
	})
	if err != nil {
		for _, he := range hostErrors(err) {
			n := &nodes[idx[he.Host]]
			n.Reason = engine.Reason(he.Err)
			e.log.Warn().Str("host", he.Host).Msg(he.Err.Error())
		}
	}
	return nodes
}

// hostErrors unpacks the per-host errors of ssh.Pool.ForEach.
func hostErrors(err error) []*ssh.HostError {
	var out []*ssh.HostError
	var walk func(error)
	walk = func(err error) {
		if he, ok := err.(*ssh.HostError); ok {
			out = append(out, he)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

func toView(n cluster.Node) nodeView {
	v := nodeView{Name: n.Name, Address: n.Address, Role: n.Role, Status: "Down", Reason: n.Reason,
		Availability: string(n.Availability), EngineVersion: n.EngineVersion, OS: n.OS, Arch: n.Arch,
		CPUs: n.CPUs, MemoryBytes: n.MemoryBytes, Labels: n.Labels}
	if n.Ready {
		v.Status = "Ready"
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	return v
}

func runNodeLs(c *cli.Context, stdio IO) error {
	if c.NArg() > 0 {
		return fmt.Errorf("node ls takes no arguments")
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	nodes := probeNodes(c.Context, e, e.inv.Names())
	if err := c.Context.Err(); err != nil {
		return err // interrupted: a listing of hosts marked "canceled" would mislead
	}
	views := make([]nodeView, len(nodes))
	for i, n := range nodes {
		views[i] = toView(n)
	}
	if e.output == "json" {
		return writeJSON(stdio.Stdout, views)
	}
	return printNodes(stdio.Stdout, views)
}

// printNodes is the `node ls` table.
func printNodes(w io.Writer, views []nodeView) error {
	t := newTable(w, "NAME", "ADDRESS", "ROLE", "STATUS", "AVAILABILITY", "ENGINE", "OS/ARCH", "CPUS", "MEMORY", "LABELS")
	for _, v := range views {
		status := v.Status
		if v.Reason != "" {
			status += " (" + v.Reason + ")"
		}
		platform, cpus, mem := "-", "-", "-"
		if v.Status == "Ready" {
			platform = v.OS + "/" + v.Arch
			cpus = fmt.Sprint(v.CPUs)
			mem = humanBytes(v.MemoryBytes)
		}
		t.row(v.Name, v.Address, string(v.Role), status, v.Availability, dash(v.EngineVersion), platform, cpus, mem, dash(strings.Join(cluster.SortedLabels(v.Labels), ",")))
	}
	return t.flush()
}

func runNodeInspect(c *cli.Context, stdio IO) error {
	if c.NArg() != 1 {
		return fmt.Errorf("usage: drover node inspect NODE")
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	name := c.Args().First()
	if _, ok := e.inv.Host(name); !ok {
		return fmt.Errorf("no node %q in %s (nodes: %s)", name, e.inv.Path, strings.Join(e.inv.Names(), ", "))
	}
	nodes := probeNodes(c.Context, e, []string{name})
	if err := c.Context.Err(); err != nil {
		return err
	}
	out := struct {
		nodeView
		Proxy *proxyView `json:"proxy,omitempty"`
	}{nodeView: toView(nodes[0])}
	if nodes[0].Ready {
		// The routing mesh's proxy on this host (docs/networking.md).
		v, _, err := e.hostProxy(c.Context, name)
		if err != nil {
			v.Error = err.Error()
		}
		out.Proxy = &v
	}
	return writeJSON(stdio.Stdout, out)
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func runNodeUpdate(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "node update [--availability active|pause|drain] [--label-add K=V] [--label-rm K] NODE")
	if err != nil {
		return err
	}
	avail := cluster.Availability(c.String("availability"))
	switch avail {
	case "", cluster.Active, cluster.Pause, cluster.Drain:
	default:
		return fmt.Errorf("--availability %q: use active, pause or drain", avail)
	}
	add := map[string]string{}
	for _, kv := range c.StringSlice("label-add") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--label-add %q: use K=V", kv)
		}
		add[k] = v
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	if _, ok := e.inv.Host(name); !ok {
		return fmt.Errorf("no node %q in %s (nodes: %s)", name, e.inv.Path, strings.Join(e.inv.Names(), ", "))
	}
	return e.runChange(c, change{
		Mutate: func(s *state.State) (string, error) {
			ns := s.Nodes[name]
			var parts []string
			if avail != "" && avail != ns.Availability {
				ns.Availability = avail
				parts = append(parts, "availability "+string(avail))
			}
			if len(add) > 0 && ns.LabelsAdd == nil {
				ns.LabelsAdd = map[string]string{}
			}
			for k, v := range add {
				ns.LabelsAdd[k] = v
				ns.LabelsRemove = without(ns.LabelsRemove, k)
				parts = append(parts, "label "+k+"="+v)
			}
			for _, k := range c.StringSlice("label-rm") {
				delete(ns.LabelsAdd, k)
				if !contains(ns.LabelsRemove, k) {
					ns.LabelsRemove = append(ns.LabelsRemove, k)
				}
				parts = append(parts, "label "+k+" removed")
			}
			s.Nodes[name] = ns
			if len(parts) == 0 {
				return "", nil
			}
			return "node " + name + ": " + strings.Join(parts, ", "), nil
		},
	})
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
