package command

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/run"
	"github.com/drover-sh/drover/state"
)

func lockCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "lock",
		Usage: "inspect or break the state lock",
		Subcommands: []*cli.Command{
			{Name: "status", Usage: "show who holds the state lock", Action: func(c *cli.Context) error { return runLockStatus(c, stdio) }},
			{
				Name: "release", Usage: "remove the state lock of a run that is gone (recorded in history)",
				Flags:  []cli.Flag{&cli.BoolFlag{Name: "force", Usage: "required: breaking a live run's lock lets two runs change the cluster at once"}},
				Action: func(c *cli.Context) error { return runLockRelease(c, stdio) },
			},
		},
	}
}

func runLockStatus(c *cli.Context, stdio IO) error {
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	info, err := st.LockStatus(c.Context)
	if err != nil {
		return err
	}
	_, machine := whoami()
	expired := info != nil && time.Now().After(info.Expires)
	// A holder of this machine whose process is gone is taken over by the
	// next run from here: the same judgement as the stores'.
	stale := info != nil && !expired && state.LocalIdentity().HolderGone(machine, info)
	if e.output == "json" {
		return writeJSON(stdio.Stdout, struct {
			Locked  bool            `json:"locked"`
			Holder  *state.LockInfo `json:"holder,omitempty"`
			Expired bool            `json:"expired,omitempty"`
			Stale   bool            `json:"stale,omitempty"`
		}{info != nil, info, expired, stale})
	}
	if info == nil {
		fmt.Fprintln(stdio.Stdout, "unlocked")
		return nil
	}
	status := "locked"
	switch {
	case expired:
		status = "expired (the next run takes it over)"
	case stale:
		status = "stale: its process is gone (the next run from this machine takes it over)"
	}
	fmt.Fprintf(stdio.Stdout, "%s by %s\n", status, info)
	return nil
}

func runLockRelease(c *cli.Context, stdio IO) error {
	if !c.Bool("force") {
		return fmt.Errorf("lock release needs --force: make sure the run holding it is gone")
	}
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	info, err := st.LockStatus(c.Context)
	if err != nil {
		return err
	}
	if info == nil {
		fmt.Fprintln(stdio.Stdout, "unlocked: nothing to release")
		return nil
	}
	if err := st.ForceUnlock(c.Context); err != nil {
		return err
	}
	// Record the break in the audit trail, under a lock of our own.
	d := e.deps(st)
	s, err := d.Edit(c.Context, commandLine(c), func(s *state.State) (run.Record, error) {
		if s.Serial == 0 {
			// No state to record it in; writing a new one here would make
			// a missing state look like an empty cluster to the next run.
			return run.Record{}, nil
		}
		return run.Record{Command: "lock release --force", Summary: "broke the lock of " + info.String()}, nil
	})
	if err != nil {
		return err
	}
	if s.Serial == 0 {
		fmt.Fprintf(stdio.Stdout, "released the lock of %s (no state to record it in)\n", info)
		return nil
	}
	fmt.Fprintf(stdio.Stdout, "released the lock of %s\n", info)
	return nil
}
