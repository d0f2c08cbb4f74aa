package command

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/imagebuild"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// planFileFormat is the version of saved plan files. Format 1 (before
// apply carried out the saved plan) named only the compose files; apply
// planned again and compared. Format 2 carries everything apply needs.
// Format 3 is format 2 with the images plan --build built (builds); a
// plan without builds is still written as format 2, which drovers that
// know no builds read as before.
const (
	planFileFormat        = 3
	planFileFormatNoBuild = 2
)

// savedPlan is what `drover plan --out FILE` writes and `drover apply FILE`
// carries out as it is, once the state (lineage, serial), the compose
// files (digests) and the hosts (Observed) are found as they were.
type savedPlan struct {
	Format  int          `json:"format"`
	Created time.Time    `json:"created"`
	By      string       `json:"by"`
	Cluster string       `json:"cluster"`
	Stack   string       `json:"stack"`
	Files   []fileDigest `json:"files"`
	Prune   bool         `json:"prune"`
	Lineage string       `json:"lineage"`
	Serial  int64        `json:"serial"`
	// Observed is the fingerprint of the hosts the plan was made on
	// (reconcile.World.Fingerprint).
	Observed string `json:"observed"`
	// Summary is the history's summary of the edit (stack X: added …).
	Summary string `json:"summary"`
	// Desired is the stack as the state holds it once the plan is applied:
	// the specs the plan starts containers from, their earlier
	// generations (for the automatic rollback), networks and volumes.
	// Its environment values are sealed with the state key, as in the
	// state file.
	Desired *state.Stack `json:"desired"`
	// Configs and Secrets are the objects the desired stack mounts, as the
	// state holds them once the plan is applied: a changed content is a
	// version the state does not hold yet. Secret contents are sealed
	// with the state key, as in the state file.
	Configs map[string]*state.Object `json:"configs,omitempty"`
	Secrets map[string]*state.Object `json:"secrets,omitempty"`
	Plan    *planner.Plan            `json:"plan"`
	// Builds are the images plan --build built (format 3), each still
	// where it was built: apply ships them from there to the hosts the
	// plan starts replicas of their services on.
	Builds []savedBuild `json:"builds,omitempty"`
}

// savedBuild is one image a plan was made with: the desired stack runs
// Image, which has ID on its builder (On: a build host; "": the engine
// of the machine that made the plan).
type savedBuild struct {
	Service string `json:"service"` // STACK_SERVICE
	Image   string `json:"image"`
	ID      string `json:"id"`
	On      string `json:"on,omitempty"`
	// Variants of a multi-platform build (ID is then their digest): each
	// as the builder names it.
	Variants []imagebuild.Variant `json:"variants,omitempty"`
}

// format is the plan file format sp is written as.
func (sp *savedPlan) format() int {
	if len(sp.Builds) > 0 {
		return planFileFormat
	}
	return planFileFormatNoBuild
}

// planObjects picks, from the state a plan was made on, the configs and
// secrets its desired stack mounts (in any kept generation).
func planObjects(s *state.State, st *state.Stack) (configs, secrets map[string]*state.Object) {
	pick := func(f cluster.FileMount) {
		o, err := s.Object(f.Kind, f.Name)
		if err != nil {
			return
		}
		m := &configs
		if f.Kind == cluster.KindSecret {
			m = &secrets
		}
		if *m == nil {
			*m = map[string]*state.Object{}
		}
		(*m)[f.Name] = o
	}
	for _, svc := range st.Services {
		if svc.Current != nil {
			for _, f := range svc.Current.Container.Files {
				pick(f)
			}
		}
		for _, g := range svc.Previous {
			if g.Spec != nil {
				for _, f := range g.Spec.Container.Files {
					pick(f)
				}
			}
		}
	}
	return configs, secrets
}

// values is the plan file's sealed part as a state document, for
// state.SealEnv and state.OpenEnv (the maps are the plan's own).
func (sp *savedPlan) values() *state.State {
	return &state.State{Stacks: map[string]*state.Stack{sp.Stack: sp.Desired}, Configs: sp.Configs, Secrets: sp.Secrets}
}

type fileDigest struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ErrStalePlan is returned when a saved plan no longer fits the state.
var ErrStalePlan = errors.New("stale plan")

// sealStack returns a copy of st whose environment values are sealed
// with k, exactly as the state file holds them.
func sealStack(st *state.Stack, k *state.Key) (*state.Stack, error) {
	sealed, err := state.SealEnv(&state.State{Stacks: map[string]*state.Stack{st.Name: st}}, k)
	if err != nil {
		return nil, err
	}
	return sealed.Stacks[st.Name], nil
}

// sealPlan seals the plan file's environment values and secret contents
// (on copies: the run's own state keeps them plain).
func sealPlan(sp *savedPlan, k *state.Key) error {
	sealed, err := state.SealEnv(sp.values(), k)
	if err != nil {
		return err
	}
	sp.Desired, sp.Configs, sp.Secrets = sealed.Stacks[sp.Stack], sealed.Configs, sealed.Secrets
	return nil
}

// openStack opens st's sealed environment values in place.
func openStack(st *state.Stack, k *state.Key) error {
	return state.OpenEnv(&state.State{Stacks: map[string]*state.Stack{st.Name: st}}, k)
}

// attachSpecs gives the plan the specs of the services it changes, from
// the desired stack the plan file carries: the plan's JSON never holds
// them (they hold environment values).
func attachSpecs(p *planner.Plan, st *state.Stack) error {
	p.Services, p.Previous = map[string]*cluster.Service{}, map[string]*cluster.Service{}
	for _, svc := range st.Services {
		name := svc.Current.FullName()
		p.Services[name] = svc.Current
		if g, err := svc.RollbackTarget(0); err == nil {
			p.Previous[name] = g.Spec
		}
	}
	var errs []error
	for i, a := range p.Actions {
		if a.Kind != planner.Create && a.Kind != planner.Replace {
			continue
		}
		svc := p.Services[a.Service]
		switch {
		case svc == nil:
			errs = append(errs, fmt.Errorf("plan.actions[%d]: %s is not a service of stack %s", i, a.Service, st.Name))
		case svc.Container.Hash() != a.SpecHash:
			errs = append(errs, fmt.Errorf("plan.actions[%d]: spec %s of %s is not the desired spec %s", i, a.SpecHash, a.Service, svc.Container.Hash()))
		}
	}
	return errors.Join(errs...)
}

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
		return fmt.Errorf("%w: %w", ErrStalePlan, err)
	}
	for i := range now {
		if now[i].SHA256 != sp.Files[i].SHA256 {
			return fmt.Errorf("%w: %s changed since the plan was made: make a new plan", ErrStalePlan, now[i].Path)
		}
	}
	if err := e.openPlan(sp); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	// The images plan --build built: still where they were built, or the
	// plan is refused before anything changes.
	var db *deployBuild
	if len(sp.Builds) > 0 {
		if err := e.checkPlanBuilds(c.Context, sp); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		db = planDeployBuild(e, sp)
	}
	ch := change{
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
		// The state is as it was when the plan was made (same serial):
		// the desired stack the plan was made for goes in as it is.
		Mutate: func(s *state.State) (string, error) {
			if db != nil {
				db.notePrevious(s)
			}
			s.Stacks[sp.Stack] = sp.Desired
			// The objects as the plan's run left them: with the new
			// versions its compose files made (the serial is the plan's,
			// so nothing else changed them).
			for name, o := range sp.Configs {
				s.Objects(cluster.KindConfig)[name] = o
			}
			for name, o := range sp.Secrets {
				s.Objects(cluster.KindSecret)[name] = o
			}
			s.Claim(sp.Stack)
			return sp.Summary, nil
		},
		Plan: sp.Plan,
		CheckWorld: func(w *reconcile.World) error {
			if w.Fingerprint() != sp.Observed {
				return fmt.Errorf("%w: the cluster changed since the plan was made (containers, networks, volumes or hosts up): make a new plan", ErrStalePlan)
			}
			return nil
		},
	}
	if db != nil {
		ch.BeforeApply = db.ship
		ch.AfterApply = db.afterRollout
	}
	return e.runChange(c, ch)
}

// openPlan opens the sealed values of a plan file's desired stack and
// gives its plan the specs.
func (e *runEnv) openPlan(sp *savedPlan) error {
	if tmp := sp.values(); state.HasSealed(tmp) {
		k, err := e.stateKey(false)
		if err != nil {
			return err
		}
		if err := state.OpenEnv(tmp, k); err != nil {
			return fmt.Errorf("the plan's environment values and secrets are sealed: %w", err)
		}
	}
	return attachSpecs(sp.Plan, sp.Desired)
}

// savePlan writes a dry run's plan to path, its environment values
// sealed with the state key.
func (e *runEnv) savePlan(path string, sp *savedPlan) error {
	if hasEnv(sp.Desired) || len(sp.Secrets) > 0 {
		// The key the state will be sealed with (made now when there is
		// none, as the first state write would).
		k, err := e.stateKey(true)
		if err != nil {
			return err
		}
		if err := sealPlan(sp, k); err != nil {
			return err
		}
	}
	return writePlanFile(path, sp)
}

// hasEnv reports whether a stack's specs hold any environment value.
func hasEnv(st *state.Stack) bool {
	for _, svc := range st.Services {
		if len(svc.Current.Container.Env) > 0 {
			return true
		}
		for _, g := range svc.Previous {
			if g.Spec != nil && len(g.Spec.Container.Env) > 0 {
				return true
			}
		}
	}
	return false
}
