package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

func deployFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "compose-file", Aliases: []string{"c"}, Usage: "compose `FILE` (repeat to merge several, in order)", Required: true},
		&cli.BoolFlag{Name: "prune", Usage: "remove services that are no longer in the files"},
		&cli.BoolFlag{Name: "push", Usage: "send the stack's images from the local docker engine to hosts that lack them"},
		&cli.BoolFlag{Name: "build", Usage: "build the images of services with a build: section (local engine, or x-drover.build_on host) and ship them to the hosts that will run them"},
		&cli.BoolFlag{Name: "adopt", Usage: "start a new state although the hosts run containers of this cluster (the state was lost): this stack's containers are taken over as they are, other stacks' are left alone (unclaimed)"},
		&cli.BoolFlag{Name: "dry-run", Usage: "show the plan, change nothing"},
		&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when nothing changes, 2 when something does (or would), 3 when replicas are left pending, 1 on error"},
		&cli.DurationFlag{Name: "timeout", Usage: "bound each service's rolling update (overrides x-drover.update_timeout)", DefaultText: "x-drover.update_timeout, else 10m"},
	}
}

func stackCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "stack",
		Usage: "deploy and manage stacks of services from compose files",
		Subcommands: []*cli.Command{
			{
				Name:      "deploy",
				Aliases:   []string{"up"},
				Usage:     "deploy a stack, or bring it up to date",
				ArgsUsage: "STACK",
				Flags:     deployFlags(),
				Action: jsonOutcome(stdio, func(c *cli.Context, stdio IO) error {
					return runDeploy(c, stdio, c.Bool("dry-run"))
				}),
			},
			{Name: "ls", Aliases: []string{"list"}, Usage: "list stacks", Action: func(c *cli.Context) error { return runStackLs(c, stdio) }},
			{Name: "services", Usage: "list a stack's services", ArgsUsage: "STACK", Action: func(c *cli.Context) error { return runStackServices(c, stdio) }},
			{Name: "ps", Usage: "list a stack's replicas", ArgsUsage: "STACK", Flags: psFlags(), Action: func(c *cli.Context) error { return runStackPs(c, stdio) }},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "remove a stack's containers and networks", ArgsUsage: "STACK [STACK...]",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "volumes", Usage: "also remove the stack's named volumes"}},
				Action: func(c *cli.Context) error { return runStackRm(c, stdio) },
			},
		},
	}
}

func planCommand(stdio IO) *cli.Command {
	// plan is a dry run by definition: it sends nothing and waits for no
	// rollout, so --dry-run, --push and --timeout have no place here; -o
	// stays the global --output (plan --output json prints the plan as JSON).
	var flags []cli.Flag
	for _, f := range deployFlags() {
		if n := f.Names()[0]; n != "dry-run" && n != "push" && n != "timeout" {
			flags = append(flags, f)
		}
	}
	flags = append(flags, &cli.StringFlag{Name: "out", Usage: "save the plan to `FILE` for `drover apply FILE`"})
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what `stack deploy` would change (same as stack deploy --dry-run)",
		ArgsUsage: "STACK",
		Flags:     flags,
		Action:    jsonOutcome(stdio, func(c *cli.Context, stdio IO) error { return runDeploy(c, stdio, true) }),
	}
}

func stackArg(c *cli.Context, usage string) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("usage: drover %s", usage)
	}
	return c.Args().First(), nil
}

func runDeploy(c *cli.Context, stdio IO, dryRun bool) error {
	name, err := stackArg(c, strings.TrimPrefix(c.Command.HelpName, "drover ")+" -c FILE STACK")
	if err != nil {
		return err
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	build := c.Bool("build")
	stack, err := e.loadStack(c, c.StringSlice("compose-file"), name, build)
	if err != nil {
		return err
	}
	// The build step comes before the run: it names each built service's
	// image (REPOSITORY:ID), and a failed build changes nothing anywhere.
	var db *deployBuild
	if build && len(stack.Builds) > 0 {
		start := time.Now()
		res, err := e.buildImages(c.Context, stack, nil)
		if err != nil {
			return fmt.Errorf("nothing was changed: %w", err)
		}
		db = &deployBuild{e: e, stack: stack, results: res, built: time.Since(start)}
	}
	prune := c.Bool("prune")
	summary := ""
	var key *state.Key
	if len(stack.Objects) > 0 {
		if key, err = e.stateKey(true); err != nil {
			return err
		}
	}
	ch := change{
		Scope:  []string{name},
		DryRun: dryRun,
		Adopt:  c.Bool("adopt"),
		Mutate: func(s *state.State) (string, error) {
			if db != nil {
				db.notePrevious(s)
			}
			who := commandLine(c)
			if out := c.String("out"); out != "" {
				// The generation is made when the saved plan is applied.
				who = "apply " + out
			}
			if err := resolveObjects(s, stack, key, time.Now().UTC()); err != nil {
				return "", err
			}
			summary = mergeStack(s, stack, prune, who)
			if db != nil {
				db.record(s)
			}
			return summary, nil
		},
	}
	if out := c.String("out"); out != "" {
		files, err := digestFiles(c.StringSlice("compose-file"))
		if err != nil {
			return err
		}
		ch.SavePlan = func(lineage string, serial int64, s *state.State, w *reconcile.World, p *planner.Plan) error {
			who, _ := whoami()
			sp := &savedPlan{Created: time.Now().UTC(), By: who, Cluster: e.inv.Cluster, Stack: name,
				Files: files, Prune: prune, Lineage: lineage, Serial: serial, Observed: w.Fingerprint(), Summary: summary,
				Desired: s.Stacks[name], Plan: p}
			if db != nil {
				sp.Builds = db.saved()
			}
			sp.Format = sp.format()
			sp.Configs, sp.Secrets = planObjects(s, s.Stacks[name])
			if err := e.savePlan(out, sp); err != nil {
				return err
			}
			e.log.Info().Str("file", out).Msg("plan saved: run `drover apply " + out + "` to carry it out")
			return nil
		}
	}
	push := c.Bool("push")
	if push {
		ch.PushLocal = true
	}
	if db != nil {
		ch.PushLocal = ch.PushLocal || db.local()
		ch.ImagePlatforms = db.platforms()
		ch.AfterApply = db.afterRollout
	}
	if push || db != nil {
		ch.BeforeApply = func(ctx context.Context, w *reconcile.World, p *planner.Plan) error {
			if push {
				if err := e.pushForPlan(ctx, w, stack); err != nil {
					return err
				}
			}
			if db != nil {
				return db.ship(ctx, w, p)
			}
			return nil
		}
	}
	return e.runChange(c, ch)
}

// mergeStack puts a loaded stack into the state as its desired version.
// A service whose definition changed gets a new generation; an unchanged
// one keeps its generation (and so its containers). Without prune,
// services missing from the files stay as they are.
func mergeStack(s *state.State, stack *cluster.Stack, prune bool, command string) string {
	who, _ := whoami()
	now := time.Now().UTC()
	st, ok := s.Stacks[stack.Name]
	if !ok {
		st = &state.Stack{Name: stack.Name, Services: map[string]*state.Service{}}
		s.Stacks[stack.Name] = st
	}
	s.Claim(stack.Name)
	st.Networks = stack.Networks
	st.Volumes = stack.Volumes
	var added, changed, removed []string
	for _, name := range sortedKeys(stack.Services) {
		next := stack.Services[name]
		cur, ok := st.Services[name]
		if !ok {
			next.Generation = 1
			sv := &state.Service{}
			sv.Push(next, state.GenerationMeta{Generation: 1, Time: now, By: who, Command: command, Changes: []string{"created"}})
			st.Services[name] = sv
			added = append(added, name)
			continue
		}
		if sameService(cur.Current, next) {
			continue
		}
		next.Generation = cur.NextGeneration()
		cur.Push(next, state.GenerationMeta{Generation: next.Generation, Time: now, By: who, Command: command, Changes: describeServiceChange(cur.Current, next)})
		changed = append(changed, name)
	}
	if prune {
		for _, name := range sortedKeys(st.Services) {
			if _, ok := stack.Services[name]; !ok {
				delete(st.Services, name)
				removed = append(removed, name)
			}
		}
	}
	var parts []string
	if len(added) > 0 {
		parts = append(parts, "added "+strings.Join(added, ","))
	}
	if len(changed) > 0 {
		parts = append(parts, "changed "+strings.Join(changed, ","))
	}
	if len(removed) > 0 {
		parts = append(parts, "pruned "+strings.Join(removed, ","))
	}
	if len(parts) == 0 {
		return "stack " + stack.Name + " unchanged"
	}
	return "stack " + stack.Name + ": " + strings.Join(parts, "; ")
}

// sameService compares two desired services, generation aside.
func sameService(a, b *cluster.Service) bool {
	x, y := *a, *b
	x.Generation, y.Generation = 0, 0
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

// describeServiceChange names what changed between two generations, by
// field name only (never a value that could be a secret).
func describeServiceChange(a, b *cluster.Service) []string {
	var out []string
	if a.Container.Image != b.Container.Image {
		out = append(out, "image "+a.Container.Image+" → "+b.Container.Image)
	}
	if a.Replicas != b.Replicas && b.Mode == cluster.Replicated {
		out = append(out, fmt.Sprintf("replicas %d → %d", a.Replicas, b.Replicas))
	}
	out = append(out, cluster.DescribeFileChanges(a.Container.Files, b.Container.Files)...)
	for _, k := range sortedKeys(union(a.Container.Env, b.Container.Env)) {
		av, aok := a.Container.Env[k]
		bv, bok := b.Container.Env[k]
		switch {
		case !aok:
			out = append(out, "env "+k+" added")
		case !bok:
			out = append(out, "env "+k+" removed")
		case av != bv:
			out = append(out, "env "+k+" changed")
		}
	}
	if len(out) == 0 {
		ja, _ := json.Marshal(a.Container)
		jb, _ := json.Marshal(b.Container)
		if !bytes.Equal(ja, jb) {
			out = append(out, "container spec changed")
		} else {
			out = append(out, "deploy settings changed")
		}
	}
	return out
}

func union(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k := range a {
		out[k] = ""
	}
	for k := range b {
		out[k] = ""
	}
	return out
}

func runStackRm(c *cli.Context, stdio IO) error {
	if c.NArg() == 0 {
		return fmt.Errorf("usage: drover stack rm STACK [STACK...]")
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	names := c.Args().Slice()
	withVolumes := c.Bool("volumes")
	return e.runChange(c, change{
		Scope: names,
		// Removing named stacks is explicit even without a state; the
		// stacks it leaves running become unclaimed.
		Adopt: true,
		Mutate: func(s *state.State) (string, error) {
			for _, n := range names {
				if _, ok := s.Stacks[n]; !ok {
					e.log.Warn().Str("stack", n).Msg("stack not in the state; removing whatever containers it has")
				}
				delete(s.Stacks, n)
				s.Claim(n)
			}
			return "removed stack " + strings.Join(names, ","), nil
		},
		// The plan shows only containers: "No changes" would be untrue when
		// networks or volumes are left to remove.
		Quiet: true,
		AfterApply: func(ctx context.Context, w *reconcile.World, s *state.State) (string, error) {
			return removeStackResources(ctx, e, w, names, withVolumes)
		},
	})
}

func osEnviron() []string { return envList() }

// commandLine is the invocation recorded in history and locks. Flags that
// could carry secrets do not exist on drover's command line.
func commandLine(c *cli.Context) string {
	return strings.TrimSpace(strings.TrimPrefix(c.Command.HelpName, "drover ") + " " + strings.Join(c.Args().Slice(), " "))
}
