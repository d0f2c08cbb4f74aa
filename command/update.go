package command

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/state"
)

func serviceUpdateCommands(stdio IO) []*cli.Command {
	return []*cli.Command{
		{
			Name:      "update",
			Usage:     "change one service without the compose files (recorded as a new generation)",
			ArgsUsage: "SERVICE",
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "image", Usage: "new image"},
				&cli.StringSliceFlag{Name: "env-add", Usage: "add or change an environment variable `K=V`"},
				&cli.StringSliceFlag{Name: "env-rm", Usage: "remove an environment variable `K`"},
				&cli.IntFlag{Name: "replicas", Value: -1, Usage: "number of replicas", DefaultText: "unchanged"},
				&cli.BoolFlag{Name: "force", Usage: "replace every replica even if nothing changed"},
				&cli.DurationFlag{Name: "timeout", Usage: "bound the rolling update (overrides x-drover.update_timeout)", DefaultText: "x-drover.update_timeout, else 10m"},
			}, changeFlags()...),
			Action: func(c *cli.Context) error { return runServiceUpdate(c, stdio) },
		},
		{
			Name:      "rollback",
			Usage:     "go back to the generation before the current one (again: one more back)",
			ArgsUsage: "SERVICE",
			Flags: append([]cli.Flag{
				&cli.IntFlag{Name: "to", Usage: "roll back to this `GENERATION` (see service history)"},
				&cli.DurationFlag{Name: "timeout", Usage: "bound the rollback"},
			}, changeFlags()...),
			Action: func(c *cli.Context) error { return runServiceRollback(c, stdio) },
		},
		{
			Name:      "history",
			Usage:     "list a service's generations: who, when, image, what changed, how the update ended",
			ArgsUsage: "SERVICE",
			Action:    func(c *cli.Context) error { return runServiceHistory(c, stdio) },
		},
	}
}

func runServiceUpdate(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "service update [--image IMAGE] [--env-add K=V] [--env-rm K] [--replicas N] [--force] SERVICE")
	if err != nil {
		return err
	}
	add := map[string]string{}
	for _, kv := range c.StringSlice("env-add") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--env-add %q: use K=V", k)
		}
		add[k] = v
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	return e.runChange(c, change{
		ScopeOf: func(s *state.State) []string { return stackOf(s, name) },
		Mutate: func(s *state.State) (string, error) {
			st, sv, err := findService(s, name)
			if err != nil {
				return "", err
			}
			_ = st
			next := *sv.Current
			next.Container.Env = copyMap(next.Container.Env)
			var changes []string
			if img := c.String("image"); img != "" && img != next.Container.Image {
				changes = append(changes, "image "+next.Container.Image+" → "+img)
				next.Container.Image = img
			}
			for _, k := range sortedKeys(add) {
				if old, ok := next.Container.Env[k]; !ok || old != add[k] {
					changes = append(changes, "env "+k+" set")
					next.Container.Env[k] = add[k]
				}
			}
			for _, k := range c.StringSlice("env-rm") {
				if _, ok := next.Container.Env[k]; ok {
					changes = append(changes, "env "+k+" removed")
					delete(next.Container.Env, k)
				}
			}
			if r := c.Int("replicas"); r >= 0 && r != next.Replicas {
				if next.Mode == cluster.Global {
					return "", fmt.Errorf("%s is a global service: --replicas does not apply", name)
				}
				changes = append(changes, fmt.Sprintf("replicas %d → %d", next.Replicas, r))
				next.Replicas = r
			}
			if c.Bool("force") {
				next.Container.ForceUpdate++
				changes = append(changes, "forced")
			}
			if len(changes) == 0 {
				if sv.Update != nil && !sv.Update.State.Completed() {
					// Nothing new: the run resumes the unfinished update.
					return "resume update of " + name, nil
				}
				return "", nil
			}
			next.Generation = sv.NextGeneration()
			who, _ := whoami()
			sv.Push(&next, state.GenerationMeta{Generation: next.Generation, Time: nowUTC(), By: who, Command: commandLine(c), Changes: changes})
			return "updated " + name + ": " + strings.Join(changes, ", "), nil
		},
	})
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func runServiceRollback(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "service rollback [--to GENERATION] SERVICE")
	if err != nil {
		return err
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	return e.runChange(c, change{
		ScopeOf:           func(s *state.State) []string { return stackOf(s, name) },
		UseRollbackPolicy: true,
		Mutate: func(s *state.State) (string, error) {
			_, sv, err := findService(s, name)
			if err != nil {
				return "", err
			}
			from := sv.Current.Generation
			if err := sv.RollbackTo(c.Int("to"), "rolled back (manual)"); err != nil {
				return "", fmt.Errorf("%s: %w", name, err)
			}
			return fmt.Sprintf("rolled %s back from generation %d to %d", name, from, sv.Current.Generation), nil
		},
	})
}

// historyRow is one generation in `service history`.
type historyRow struct {
	Generation int       `json:"generation"`
	Current    bool      `json:"current"`
	Time       time.Time `json:"time"` // RFC 3339, as everywhere in JSON
	By         string    `json:"by"`
	Image      string    `json:"image"`
	Replicas   int       `json:"replicas"`
	Changes    []string  `json:"changes"`
	Result     string    `json:"result"`
	Parent     int       `json:"parent,omitempty"`
	// Build is the build that made the generation's image (--build).
	Build *state.BuildRecord `json:"build,omitempty"`
}

func runServiceHistory(c *cli.Context, stdio IO) error {
	name, err := stackArg(c, "service history SERVICE")
	if err != nil {
		return err
	}
	e, s, err := loadState(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	_, sv, err := findService(s, name)
	if err != nil {
		return err
	}
	rows := historyRows(sv)
	if e.output == "json" {
		return writeJSON(stdio.Stdout, rows)
	}
	return printHistory(stdio.Stdout, rows, time.Local)
}

// printHistory is the `service history` table, times in loc.
func printHistory(w io.Writer, rows []historyRow, loc *time.Location) error {
	t := newTable(w, "GEN", "TIME", "BY", "IMAGE", "REPLICAS", "CHANGES", "RESULT")
	for _, r := range rows {
		gen := strconv.Itoa(r.Generation)
		if r.Current {
			gen += " *"
		}
		t.row(gen, r.Time.In(loc).Format(tableTime), r.By, r.Image, strconv.Itoa(r.Replicas), dash(strings.Join(r.Changes, ", ")), dash(r.Result))
	}
	return t.flush()
}

// historyRows are a service's generations as `service history` lists
// them, newest first.
func historyRows(sv *state.Service) []historyRow {
	row := func(spec *cluster.Service, m state.GenerationMeta, current bool) historyRow {
		res := m.Result
		if current && sv.Update != nil && !sv.Update.State.Completed() {
			res = sv.Update.State.Display() + ": " + sv.Update.Reason
		}
		return historyRow{Generation: spec.Generation, Current: current, Time: m.Time.UTC(), By: m.By,
			Image: spec.Container.Image, Replicas: spec.Replicas, Changes: m.Changes, Result: res, Parent: m.Parent, Build: m.Build}
	}
	rows := []historyRow{row(sv.Current, sv.Meta, true)}
	for _, g := range sv.Previous {
		rows = append(rows, row(g.Spec, g.Meta, false))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Generation > rows[j].Generation })
	return rows
}

// stackOf is the stack of the named service, as a run's scope: changing one
// service never plans another stack.
func stackOf(s *state.State, service string) []string {
	if st, _, err := findService(s, service); err == nil {
		return []string{st.Name}
	}
	return nil
}
