package command

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/engine"
	"github.com/drover-sh/drover/internal/fanout"
	"github.com/drover-sh/drover/state"
)

func serviceCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "service",
		Usage: "inspect and change services (STACK_SERVICE)",
		Subcommands: append([]*cli.Command{
			{Name: "ls", Aliases: []string{"list"}, Usage: "list services of every stack", Action: func(c *cli.Context) error {
				return withSnapshot(c, stdio, func(e *runEnv, sn *snapshot) error { return e.printServices(sn.serviceViews("")) })
			}},
			{Name: "ps", Usage: "list a service's replicas", ArgsUsage: "SERVICE", Flags: psFlags(), Action: func(c *cli.Context) error { return runServicePs(c, stdio) }},
			{Name: "inspect", Usage: "print a service's desired spec, generations and replicas as JSON", ArgsUsage: "SERVICE", Action: func(c *cli.Context) error { return runServiceInspect(c, stdio) }},
			{Name: "scale", Usage: "set replica counts", ArgsUsage: "SERVICE=N [SERVICE=N...]", Flags: changeFlags(), Action: func(c *cli.Context) error { return runServiceScale(c, stdio) }},
			{Name: "rm", Aliases: []string{"remove"}, Usage: "remove services and their replicas", ArgsUsage: "SERVICE [SERVICE...]", Flags: changeFlags(), Action: func(c *cli.Context) error { return runServiceRm(c, stdio) }},
			{
				Name: "logs", Usage: "fetch the logs of every replica of a service", ArgsUsage: "SERVICE",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow log output until Ctrl-C"},
					&cli.StringFlag{Name: "tail", Value: "all", Usage: "number of lines to show from the end of each replica's logs"},
					&cli.StringFlag{Name: "since", Usage: "show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)"},
					&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
				},
				Action: func(c *cli.Context) error { return runServiceLogs(c, stdio) },
			},
		}, serviceUpdateCommands(stdio)...),
	}
}

func changeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "dry-run", Usage: "show the plan, change nothing"},
		&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when nothing changes, 2 when something does, 3 when replicas are left pending, 1 on error"},
	}
}

// findService resolves SERVICE (STACK_SERVICE) in the state.
func findService(s *state.State, name string) (*state.Stack, *state.Service, error) {
	st, sv, ok := s.FindService(name)
	if !ok {
		var names []string
		for _, svc := range s.Services() {
			names = append(names, svc.FullName())
		}
		return nil, nil, fmt.Errorf("no service %q (services: %s)", name, dash(strings.Join(names, ", ")))
	}
	return st, sv, nil
}

func runServicePs(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "service ps SERVICE")
	if err != nil {
		return err
	}
	return withSnapshot(c, stdio, func(e *runEnv, sn *snapshot) error {
		_, sv, err := findService(sn.state, name)
		if err != nil {
			return err
		}
		return e.printReplicas(sn.replicaViews([]*cluster.Service{sv.Current}), c.Bool("no-trunc"), sn)
	})
}

func runServiceInspect(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "service inspect SERVICE")
	if err != nil {
		return err
	}
	return withSnapshot(c, stdio, func(e *runEnv, sn *snapshot) error {
		_, sv, err := findService(sn.state, name)
		if err != nil {
			return err
		}
		type genView struct {
			state.GenerationMeta
			Image string `json:"image"`
		}
		out := struct {
			Name        string               `json:"name"`
			Spec        *cluster.Service     `json:"spec"`
			Meta        state.GenerationMeta `json:"meta"`
			Update      *state.UpdateStatus  `json:"update,omitempty"`
			Generations []genView            `json:"previous_generations"`
			Replicas    []replicaView        `json:"replicas"`
		}{Name: name, Spec: sv.Current, Meta: sv.Meta, Update: sv.Update, Generations: []genView{}, Replicas: sn.replicaViews([]*cluster.Service{sv.Current})}
		for _, g := range sv.Previous {
			out.Generations = append(out.Generations, genView{g.Meta, g.Spec.Container.Image})
		}
		return writeJSON(stdio.Stdout, out)
	})
}

func runServiceScale(c *cli.Context, stdio IO) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: drover service scale SERVICE=N [SERVICE=N...]")
	}
	want := map[string]int{}
	for _, a := range c.Args().Slice() {
		name, n, ok := strings.Cut(a, "=")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count < 0 {
			return fmt.Errorf("%q: use SERVICE=N with N >= 0", a)
		}
		want[name] = count
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	var scope []string
	return e.runChange(c, change{
		// Only the stacks of the scaled services: a scale never touches
		// another stack.
		ScopeOf: func(*state.State) []string { return scope },
		Mutate: func(s *state.State) (string, error) {
			var parts []string
			for _, name := range sortedKeys(want) {
				st, sv, err := findService(s, name)
				if err != nil {
					return "", err
				}
				if sv.Current.Mode == cluster.Global {
					return "", fmt.Errorf("%s is a global service: it runs one replica per node and cannot be scaled", name)
				}
				scope = append(scope, st.Name)
				if sv.Current.Replicas == want[name] {
					continue
				}
				next := *sv.Current
				next.Replicas = want[name]
				next.Generation = sv.NextGeneration()
				who, _ := whoami()
				sv.Push(&next, state.GenerationMeta{Generation: next.Generation, Time: nowUTC(), By: who, Command: commandLine(c),
					Changes: []string{fmt.Sprintf("replicas %d → %d", sv.Current.Replicas, want[name])}})
				parts = append(parts, fmt.Sprintf("%s=%d", name, want[name]))
			}
			if len(parts) == 0 {
				return "", nil
			}
			return "scaled " + strings.Join(parts, " "), nil
		},
	})
}

func runServiceRm(c *cli.Context, stdio IO) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: drover service rm SERVICE [SERVICE...]")
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	names := c.Args().Slice()
	return e.runChange(c, change{
		Mutate: func(s *state.State) (string, error) {
			for _, name := range names {
				st, sv, err := findService(s, name)
				if err != nil {
					return "", err
				}
				delete(st.Services, sv.Current.Name)
			}
			return "removed service " + strings.Join(names, ","), nil
		},
	})
}

func runServiceLogs(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "service logs [-f] SERVICE")
	if err != nil {
		return err
	}
	return withSnapshot(c, stdio, func(e *runEnv, sn *snapshot) error {
		if _, _, err := findService(sn.state, name); err != nil {
			// A service removed from the state may still have replicas.
			if len(sn.replicasOf(name)) == 0 {
				return err
			}
		}
		reps := sn.replicasOf(name)
		if len(reps) == 0 {
			return fmt.Errorf("service %s has no replicas on reachable hosts", name)
		}
		opts := engine.LogOptions{Follow: c.Bool("follow"), Tail: c.String("tail"), Since: c.String("since"), Timestamps: c.Bool("timestamps")}
		var outMu sync.Mutex
		limit := e.parallel
		if opts.Follow {
			// Following never ends by itself: every replica's stream runs
			// at once, or those past the limit would never be shown.
			limit = len(reps)
		}
		errs := fanout.Each(c.Context, limit, reps, func(ctx context.Context, _ int, r cluster.Replica) error {
			prefix := fmt.Sprintf("%s.%s@%s | ", name, r.Slot, r.Host)
			ow := newPrefixWriter(stdio.Stdout, prefix, &outMu)
			ew := newPrefixWriter(stdio.Stderr, prefix, &outMu)
			defer ew.Close()
			defer ow.Close()
			return sn.world.Engines[r.Host].Logs(ctx, r.ID, opts, ow, ew)
		})
		if c.Context.Err() != nil {
			return nil // Ctrl-C ends -f: not an error
		}
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("logs of %s on %s: %w", reps[i].Name, reps[i].Host, err)
			}
		}
		return nil
	})
}

// prefixWriter prefixes every complete line and writes it whole, so lines
// of replicas never interleave mid-line.
type prefixWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func newPrefixWriter(w io.Writer, prefix string, mu *sync.Mutex) *prefixWriter {
	pr, pw := io.Pipe()
	p := &prefixWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			mu.Lock()
			io.WriteString(w, prefix+sc.Text()+"\n")
			mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	return p
}

func (p *prefixWriter) Write(b []byte) (int, error) { return p.pw.Write(b) }
func (p *prefixWriter) Close()                      { p.pw.Close(); <-p.done }
