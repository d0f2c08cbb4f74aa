package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

func stateTransferCommands(stdio IO) []*cli.Command {
	return []*cli.Command{
		{Name: "pull", Usage: "print the current state document (from whichever backend) to stdout", Action: func(c *cli.Context) error { return runStateShow(c, stdio) }},
		{
			Name: "push", Usage: "replace the stored state with FILE (same lineage, newer serial; --force to override)", ArgsUsage: "FILE",
			Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "push even with another lineage or an older serial (the stored lineage is kept and the serial still goes up)"}},
			Action: func(c *cli.Context) error { return runStatePush(c, stdio) },
		},
		{
			Name:  "migrate",
			Usage: "move the state to another backend and point the inventory at it",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Required: true, Usage: "local or managers"},
				&cli.StringFlag{Name: "path", Usage: "local: the state file (default: drover.state.json beside the inventory)"},
				&cli.StringFlag{Name: "dir", Usage: "managers: the folder on each manager (default /var/lib/drover/CLUSTER)"},
			},
			Action: func(c *cli.Context) error { return runStateMigrate(c, stdio) },
		},
	}
}

func runStatePush(c *cli.Context, stdio IO) error {
	file, err := stackArg(c, "state push [--force] FILE")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	next, err := state.Decode(b)
	if err != nil {
		return fmt.Errorf("%s: not a state document: %w", file, err)
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	if err := next.Validate(e.inv.Cluster); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	// Sealed values must open with this machine's key, or the pushed
	// state could never be read again here.
	st, err := e.store()
	if err != nil {
		return err
	}
	if err := st.Open(next); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	lk, err := e.lock(c.Context, st, commandLine(c))
	if err != nil {
		return err
	}
	defer lk.Release(context.WithoutCancel(c.Context))
	// The current document as stored: only its lineage and serial matter.
	cur, err := st.Raw().Read(c.Context)
	var write func(context.Context, *state.State) error
	var conflict *state.ConflictError
	switch {
	case errors.Is(err, state.ErrNoState):
		cur = nil
	case errors.As(err, &conflict) && c.Bool("force"):
		// The managers disagree and the operator chose: the pushed file
		// supersedes every copy, with a serial above them all.
		if _, ok := st.Raw().(state.ForceWriter); !ok {
			return err
		}
		write = func(ctx context.Context, s *state.State) error {
			_, err := st.ForceWrite(ctx, s)
			return err
		}
		next.Serial = max(next.Serial, conflict.Serial+1)
		cur = nil
	case err != nil:
		return err
	}
	note, err := state.PreparePush(cur, next, c.Bool("force"))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	summary := "state pushed from " + file
	if note != "" {
		summary += " (" + note + ")"
	}
	d := e.deps(st)
	if err := d.Commit(c.Context, next, run.Record{Command: commandLine(c), Summary: summary, Serial: next.Serial, Write: write}); err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "pushed %s to %s (serial %d)\n", file, st.Describe(), next.Serial)
	return nil
}

func runStateMigrate(c *cli.Context, stdio IO) error {
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	to := c.String("to")
	if to == e.inv.State.Backend {
		return fmt.Errorf("the state is already on the %s backend", to)
	}
	// The documents move as stored, sealed values and all.
	from, err := e.backend()
	if err != nil {
		return err
	}
	var dst state.Store
	var loc cluster.StateLocation
	switch to {
	case "managers":
		dir := c.String("dir")
		if dir == "" {
			dir = "/var/lib/drover/" + e.inv.Cluster
		}
		if len(e.managersStore(dir).Hosts) == 0 {
			return fmt.Errorf("no host has role: manager in %s", e.inv.Path)
		}
		dst = e.managersStore(dir)
		loc = cluster.StateLocation{Backend: "managers", Dir: c.String("dir")}
	case "local":
		path := c.String("path")
		if path == "" {
			path = filepath.Join(filepath.Dir(e.inv.Path), "drover.state.json")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return fmt.Errorf("--path %s: %w", path, err)
		}
		dst = &state.Local{Path: abs, TTL: e.inv.State.LockTTL}
		// The inventory reads a relative path from its own directory, while
		// --path is relative to the current one: record the path the file
		// was written to, relative to the inventory where it can be.
		recorded := abs
		if invAbs, err := filepath.Abs(e.inv.Path); err == nil {
			if rel, err := filepath.Rel(filepath.Dir(invAbs), abs); err == nil && !strings.HasPrefix(rel, "..") {
				recorded = rel
			}
		}
		loc = cluster.StateLocation{Backend: "local", Path: recorded}
	default:
		return fmt.Errorf("--to %q: use local or managers", to)
	}
	// Hold both locks: nobody changes either copy while it moves.
	lk, err := e.lock(c.Context, from, commandLine(c))
	if err != nil {
		return err
	}
	defer lk.Release(context.WithoutCancel(c.Context))
	lk2, err := e.lock(c.Context, dst, commandLine(c))
	if err != nil {
		return err
	}
	defer lk2.Release(context.WithoutCancel(c.Context))
	s, err := state.Copy(c.Context, from, dst)
	if err != nil {
		return fmt.Errorf("copy the state from %s to %s: %w", from.Describe(), dst.Describe(), err)
	}
	if err := cluster.SetStateLocation(e.inv.Path, e.home, loc); err != nil {
		return fmt.Errorf("the state was copied to %s, but the inventory could not be updated: %w", dst.Describe(), err)
	}
	fmt.Fprintf(stdio.Stdout, "state (serial %d) copied from %s to %s; %s now says state.backend: %s\n", s.Serial, from.Describe(), dst.Describe(), e.inv.Path, to)
	return nil
}
