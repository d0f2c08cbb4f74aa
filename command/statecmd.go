package command

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/state"
)

func nowUTC() time.Time { return time.Now().UTC() }

func stateCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "state",
		Usage: "look at drover's state document",
		Subcommands: append([]*cli.Command{
			{Name: "show", Usage: "print the state document (JSON)", Action: func(c *cli.Context) error { return runStateShow(c, stdio) }},
			{Name: "history", Usage: "list the runs that changed the cluster", Action: func(c *cli.Context) error { return runStateHistory(c, stdio) }},
		}, stateTransferCommands(stdio)...),
	}
}

func loadState(c *cli.Context, stdio IO) (*runEnv, *state.State, error) {
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return nil, nil, err
	}
	s, err := e.readState(c.Context, st)
	return e, s, err
}

// runStateShow prints the document as stored: environment values stay
// sealed.
func runStateShow(c *cli.Context, stdio IO) error {
	e, st, err := newEnvStore(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	s, err := st.Raw().Read(c.Context)
	if errors.Is(err, state.ErrNoState) {
		s = state.New(e.inv.Cluster)
	} else if err != nil {
		return err
	}
	data, err := state.Marshal(s)
	if err != nil {
		return err
	}
	_, err = stdio.Stdout.Write(data)
	return err
}

func runStateHistory(c *cli.Context, stdio IO) error {
	e, s, err := loadState(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	runs := newestFirst(s.History)
	if e.output == "json" {
		return writeJSON(stdio.Stdout, runs)
	}
	if err := printRuns(stdio.Stdout, runs, time.Local); err != nil {
		return err
	}
	if len(s.History) == 0 {
		fmt.Fprintln(stdio.Stderr, "no runs recorded yet")
	}
	return nil
}

// printRuns is the `state history` table, times in loc.
func printRuns(w io.Writer, runs []state.Run, loc *time.Location) error {
	t := newTable(w, "SERIAL", "TIME", "USER", "COMMAND", "RESULT", "SUMMARY")
	for _, r := range runs {
		t.row(strconv.FormatInt(r.Serial, 10), r.Time.In(loc).Format(tableTime), r.User, r.Command, r.Result, r.Summary)
	}
	return t.flush()
}

// newestFirst is the history as `state history` lists it, in the table and
// in JSON alike.
func newestFirst(history []state.Run) []state.Run {
	runs := make([]state.Run, 0, len(history))
	for i := len(history) - 1; i >= 0; i-- {
		runs = append(runs, history[i])
	}
	return runs
}
