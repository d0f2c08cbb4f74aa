package command

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/state"
)

func reconcileCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "reconcile",
		Usage: "converge the cluster to the desired state kept in the state file (for cron: no compose files needed)",
		Description: "Recreates missing, exited and dead replicas, replaces replicas unhealthy for longer than\n" +
			"--unhealthy-grace, reschedules the replicas of unreachable hosts and removes the surplus when they\n" +
			"return, removes drover containers of services the state does not know, and reports (with\n" +
			"--fix-drift: replaces) replicas that drifted from their spec. Prints nothing when converged.",
		ArgsUsage: "[STACK...]",
		Flags: append([]cli.Flag{
			&cli.BoolFlag{Name: "fix-drift", Usage: "replace replicas that drifted from their spec (else only reported)"},
			&cli.DurationFlag{Name: "unhealthy-grace", Value: time.Minute, Usage: "replace replicas unhealthy for at least this long (0: never)"},
			&cli.DurationFlag{Name: "timeout", Usage: "bound each service's rolling replacement (overrides x-drover.update_timeout)", DefaultText: "x-drover.update_timeout, else 10m"},
		}, changeFlags()...),
		Action: jsonOutcome(stdio, func(c *cli.Context, stdio IO) error {
			e, err := newEnv(c, stdio)
			if err != nil {
				return err
			}
			defer e.close()
			stacks := c.Args().Slice()
			return e.runChange(c, change{
				Scope:          stacks,
				AllStacks:      len(stacks) == 0,
				Quiet:          true,
				FixDrift:       c.Bool("fix-drift"),
				UnhealthyGrace: c.Duration("unhealthy-grace"),
				Mutate: func(s *state.State) (string, error) {
					for _, st := range stacks {
						if _, ok := s.Stacks[st]; !ok {
							e.log.Warn().Str("stack", st).Msg("stack not in the state: its containers, if any, are removed")
						}
					}
					return "", nil
				},
			})
		}),
	}
}
