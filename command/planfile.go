package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/compose"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/state"
)

// planFileFormat is the version of saved plan files.
const planFileFormat = 1

// savedPlan is what `drover plan --out FILE` writes and `drover apply FILE`
// carries out. It holds no environment values: the compose files are
// named by path and digest and read again at apply time, and the desired
// state they give must hash to DesiredDigest.
type savedPlan struct {
	Format        int           `json:"format"`
	Created       time.Time     `json:"created"`
	By            string        `json:"by"`
	Cluster       string        `json:"cluster"`
	Stack         string        `json:"stack"`
	Files         []fileDigest  `json:"files"`
	Prune         bool          `json:"prune"`
	Lineage       string        `json:"lineage"`
	Serial        int64         `json:"serial"`
	DesiredDigest string        `json:"desired_digest"`
	Plan          *planner.Plan `json:"plan"`
}

type fileDigest struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ErrStalePlan is returned when a saved plan no longer fits the state.
var ErrStalePlan = errors.New("stale plan")

func digestFiles(paths []string) ([]fileDigest, error) {
	var out []fileDigest
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(abs)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, fileDigest{Path: abs, SHA256: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

// desiredDigest hashes a stack's desired services as the state holds them.
func desiredDigest(s *state.State, stack string) string {
	var svcs []*cluster.Service
	if st, ok := s.Stacks[stack]; ok {
		for _, k := range sortedKeys(st.Services) {
			svcs = append(svcs, st.Services[k].Current)
		}
	}
	b, _ := json.Marshal(svcs)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// actionKeys lists a plan's changes as comparable strings.
func actionKeys(p *planner.Plan) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Kind == planner.Keep {
			continue
		}
		old := ""
		if a.Old != nil {
			old = a.Old.ID
		}
		out = append(out, fmt.Sprintf("%s %s.%s@%s %s gen%d", a.Kind, a.Service, a.Slot, a.Host, old, a.Generation))
	}
	for _, n := range p.Networks {
		out = append(out, "network "+n.Name+"@"+n.Host)
	}
	for _, v := range p.Volumes {
		out = append(out, "volume "+v.Name+"@"+v.Host)
	}
	sort.Strings(out)
	return out
}

func writePlanFile(path string, sp *savedPlan) error {
	b, err := json.MarshalIndent(sp, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func applyCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Usage:     "carry out a plan saved with `drover plan --out FILE`; refused if the state or the cluster moved since",
		ArgsUsage: "PLANFILE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "detailed-exitcode", Usage: "exit 0 when nothing changed, 2 when something did, 3 when replicas are left pending, 1 on error"},
			&cli.DurationFlag{Name: "timeout", Usage: "bound each service's rolling update (overrides x-drover.update_timeout)", DefaultText: "x-drover.update_timeout, else 10m"},
		},
		Action: jsonOutcome(stdio, runApply),
	}
}

func runApply(c *cli.Context, stdio IO) error {
	file, err := stackArg(c, "apply PLANFILE")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sp, err := parsePlanFile(file, b)
	if err != nil {
		return err
	}
	e, err := newEnv(c, stdio)
	if err != nil {
		return err
	}
	defer e.close()
	if sp.Cluster != e.inv.Cluster {
		return fmt.Errorf("%s: plan is for cluster %q, the inventory is %q", file, sp.Cluster, e.inv.Cluster)
	}
	var paths []string
	for _, f := range sp.Files {
		paths = append(paths, f.Path)
	}
	now, err := digestFiles(paths)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrStalePlan, err)
	}
	for i := range now {
		if now[i].SHA256 != sp.Files[i].SHA256 {
			return fmt.Errorf("%w: %s changed since the plan was made: make a new plan", ErrStalePlan, now[i].Path)
		}
	}
	stack, warnings, err := compose.Load(c.Context, compose.Options{Files: paths, StackName: sp.Stack, Environ: envList()})
	if err != nil {
		return err
	}
	for _, w := range warnings {
		e.log.Warn().Msg(w.String())
	}
	return e.runChange(c, change{
		Command: commandLine(c) + " (stack deploy " + sp.Stack + ")",
		Scope:   []string{sp.Stack},
		CheckState: func(s *state.State) error {
			if s.Lineage != sp.Lineage && sp.Serial != 0 {
				return fmt.Errorf("%w: the state's lineage is %s, the plan was made for %s", ErrStalePlan, s.Lineage, sp.Lineage)
			}
			if s.Serial != sp.Serial {
				return fmt.Errorf("%w: the state moved from serial %d to %d since the plan was made: make a new plan", ErrStalePlan, sp.Serial, s.Serial)
			}
			return nil
		},
		Mutate: func(s *state.State) (string, error) {
			sum := mergeStack(s, stack, sp.Prune, "apply "+file)
			if got := desiredDigest(s, sp.Stack); got != sp.DesiredDigest {
				return "", fmt.Errorf("%w: the compose files give another desired state than when the plan was made (environment variables changed?)", ErrStalePlan)
			}
			return sum, nil
		},
		CheckPlan: func(s *state.State, p *planner.Plan) error {
			want, got := actionKeys(sp.Plan), actionKeys(p)
			if strings.Join(want, "\n") != strings.Join(got, "\n") {
				return fmt.Errorf("%w: the cluster changed since the plan was made (%d planned steps, %d needed now): make a new plan", ErrStalePlan, len(want), len(got))
			}
			return nil
		},
	})
}
