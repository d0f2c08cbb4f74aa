package command

import (
	"context"
	"fmt"
	"strings"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/imagebuild"
	"github.com/drover-sh/drover/planner"
)

// Saved plans with builds (plan --build --out FILE, then apply FILE): the
// plan file names each built image and where it was built; apply ships
// them from there, as stack deploy --build does, once it has made sure
// they are still there.

// saved is the plan file's record of the run's builds.
func (d *deployBuild) saved() []savedBuild {
	out := make([]savedBuild, 0, len(d.results))
	for _, r := range d.results {
		b := savedBuild{Service: r.Service, Image: r.Image, ID: r.ID, On: r.On}
		if r.Multi() {
			b.Variants = r.Variants
		}
		out = append(out, b)
	}
	return out
}

// BuiltImageGoneError refuses a saved plan whose built image is no longer
// on its builder as it was built (removed, pruned, or the plan is applied
// on another machine than the one whose engine built it). It is a stale
// plan: nothing was changed.
type BuiltImageGoneError struct {
	Image, ID string
	Builder   string // "the local engine (DOCKER_HOST=…)", "host h1"
	Now       string // the ID the builder has under the name now, "" for none
}

func (e *BuiltImageGoneError) Error() string {
	what := "is no longer on"
	if e.Now != "" {
		what = "names another image (" + imagebuild.Tag(e.Now) + ") on"
	}
	name := e.Image
	if !strings.HasSuffix(e.Image, ":"+imagebuild.Tag(e.ID)) {
		name += " (ID " + imagebuild.Tag(e.ID) + ")"
	}
	return fmt.Sprintf("the plan's built image %s %s %s, where it was built: make a new plan with `drover plan --build --out` (nothing was changed)",
		name, what, e.Builder)
}

func (e *BuiltImageGoneError) Unwrap() error { return ErrStalePlan }

// checkPlanBuilds makes sure each image a saved plan was built with and
// may have to ship (its service gets a replica created or replaced) is
// still on its builder, under its name and with its ID. An unchanged
// service's build is not needed: its replicas stay as they are.
func (e *runEnv) checkPlanBuilds(ctx context.Context, sp *savedPlan) error {
	local := &imagebuild.Local{Docker: imagebuild.DockerCLI{}, Where: localWhere()}
	starts := map[string]bool{}
	for _, a := range sp.Plan.Actions {
		if a.Kind == planner.Create || a.Kind == planner.Replace {
			starts[a.Service] = true
		}
	}
	for _, sb := range sp.Builds {
		if !starts[sb.Service] {
			continue
		}
		if err := e.checkPlanBuild(ctx, local, sb); err != nil {
			return err
		}
	}
	return nil
}

// checkPlanBuild checks one build of a saved plan: its image, or each
// variant of a multi-platform build under the builder's name for it.
func (e *runEnv) checkPlanBuild(ctx context.Context, local *imagebuild.Local, sb savedBuild) error {
	images := []savedBuild{sb}
	if len(sb.Variants) > 0 {
		images = nil
		for _, v := range sb.Variants {
			images = append(images, savedBuild{Service: sb.Service, Image: v.Image, ID: v.ID, On: sb.On})
		}
	}
	for _, b := range images {
		var (
			id      string
			found   bool
			err     error
			builder string
		)
		if b.On == "" {
			builder = local.Describe()
			id, found, err = local.ImageID(ctx, b.Image)
		} else {
			builder = "host " + b.On
			if _, ok := e.inv.Host(b.On); !ok {
				return fmt.Errorf("%w: %s was built on host %s, which is not in %s", ErrStalePlan, b.Image, b.On, e.inv.Path)
			}
			eng, cerr := e.engineFor(ctx, b.On)
			if cerr != nil {
				err = cerr
			} else {
				f, ok, ferr := eng.ImageFacts(ctx, b.Image)
				id, found, err = f.ID, ok, ferr
			}
		}
		if err != nil {
			return fmt.Errorf("nothing was changed: reading the plan's built image %s from %s: %w", b.Image, builder, err)
		}
		if !found || id != b.ID {
			return &BuiltImageGoneError{Image: b.Image, ID: b.ID, Builder: builder, Now: id}
		}
	}
	return nil
}

// planDeployBuild is the deploy --build step of applying a saved plan:
// ship the plan's images, prune after the rollout; nothing is built.
func planDeployBuild(e *runEnv, sp *savedPlan) *deployBuild {
	st := &cluster.Stack{Name: sp.Stack, Builds: map[string]*cluster.Build{}}
	d := &deployBuild{e: e, stack: st, fromPlan: true}
	for _, b := range sp.Builds {
		st.Builds[strings.TrimPrefix(b.Service, sp.Stack+"_")] = &cluster.Build{}
		d.results = append(d.results, imagebuild.Result{Service: b.Service, Image: b.Image, ID: b.ID, On: b.On, Variants: b.Variants})
	}
	return d
}
