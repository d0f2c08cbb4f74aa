package command

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/state"
)

// parsePlanFile reads a plan file written by `drover plan -o`, refusing
// what that never writes: data after the document, another format, no
// plan, no stack, files without a path or digest. Whatever it accepts,
// apply can work with without a nil check.
func parsePlanFile(name string, b []byte) (*savedPlan, error) {
	// The format first: an older file has other fields, and saying so
	// beats naming the first field it lacks.
	var head struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%s: not a drover plan file: %w", name, err)
	}
	switch {
	case head.Format < planFileFormatNoBuild:
		return nil, fmt.Errorf("%s: %w: plan file format %d was written by an older drover, which planned again at apply; this one carries out the saved plan (format %d): make a new plan with `drover plan --out`", name, ErrStalePlan, head.Format, planFileFormat)
	case head.Format > planFileFormat:
		return nil, fmt.Errorf("%s: plan file format %d was written by a newer drover (this one reads formats %d and %d)", name, head.Format, planFileFormatNoBuild, planFileFormat)
	}
	var sp savedPlan
	if err := state.DecodeStrict(b, &sp); err != nil {
		return nil, fmt.Errorf("%s: not a drover plan file: %w", name, err)
	}
	var errs []error
	if sp.Plan == nil {
		errs = append(errs, errors.New("plan: missing or null"))
	}
	if sp.Plan != nil {
		errs = append(errs, planErrors(sp.Plan)...)
	}
	if sp.Stack == "" {
		errs = append(errs, errors.New("stack: missing"))
	}
	if sp.Observed == "" {
		errs = append(errs, errors.New("observed: missing"))
	}
	switch {
	case sp.Desired == nil:
		errs = append(errs, errors.New("desired: missing or null"))
	case sp.Desired.Name != sp.Stack:
		errs = append(errs, fmt.Errorf("desired.name: %q is not the plan's stack %q", sp.Desired.Name, sp.Stack))
	default:
		for n, svc := range sp.Desired.Services {
			if svc == nil || svc.Current == nil {
				errs = append(errs, fmt.Errorf("desired.services.%s.current: missing or null", n))
			}
			if svc != nil {
				for i, g := range svc.Previous {
					if g.Spec == nil {
						errs = append(errs, fmt.Errorf("desired.services.%s.previous[%d].spec: missing or null", n, i))
					}
				}
			}
		}
	}
	for kind, objs := range map[string]map[string]*state.Object{"configs": sp.Configs, "secrets": sp.Secrets} {
		for n, o := range objs {
			switch {
			case o == nil:
				errs = append(errs, fmt.Errorf("%s.%s: null", kind, n))
			case o.Name != n:
				errs = append(errs, fmt.Errorf("%s.%s.name: %q is not its key", kind, n, o.Name))
			case len(o.Versions) == 0:
				errs = append(errs, fmt.Errorf("%s.%s.versions: none", kind, n))
			}
		}
	}
	errs = append(errs, buildErrors(&sp, head.Format)...)
	if sp.Serial < 0 {
		errs = append(errs, fmt.Errorf("serial: %d is negative", sp.Serial))
	}
	if len(sp.Files) == 0 {
		errs = append(errs, errors.New("files: none"))
	}
	for i, f := range sp.Files {
		if f.Path == "" {
			errs = append(errs, fmt.Errorf("files[%d].path: missing", i))
		}
		if d, err := hex.DecodeString(f.SHA256); err != nil || len(d) != 32 {
			errs = append(errs, fmt.Errorf("files[%d].sha256: %q is not a SHA-256 digest", i, f.SHA256))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: malformed plan file: %w", name, err)
	}
	return &sp, nil
}

// buildErrors lists what is wrong with a plan file's builds: builds in a
// format 2 file, a build without service, image or ID, one whose service
// the desired stack does not run with its image.
func buildErrors(sp *savedPlan, format int) []error {
	if format < planFileFormat && len(sp.Builds) > 0 {
		return []error{fmt.Errorf("builds: format %d plan files carry none (format %d does)", format, planFileFormat)}
	}
	var errs []error
	for i, b := range sp.Builds {
		if b.Service == "" || b.Image == "" || b.ID == "" {
			errs = append(errs, fmt.Errorf("builds[%d]: service, image and id must be set", i))
			continue
		}
		if sp.Desired == nil {
			continue
		}
		var found bool
		for _, svc := range sp.Desired.Services {
			if svc != nil && svc.Current != nil && svc.Current.FullName() == b.Service {
				found = true
				if svc.Current.Container.Image != b.Image {
					errs = append(errs, fmt.Errorf("builds[%d]: %s runs %s in the desired stack, not the built %s", i, b.Service, svc.Current.Container.Image, b.Image))
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("builds[%d]: %s is not a service of stack %s", i, b.Service, sp.Stack))
		}
	}
	return errs
}

// planErrors lists what apply could not carry out in a plan: an action of
// no known kind, one without the host or the old container it works on,
// a network or volume without a host or name.
func planErrors(p *planner.Plan) []error {
	var errs []error
	for i, a := range p.Actions {
		switch a.Kind {
		case planner.Create:
		case planner.Replace, planner.Remove, planner.Keep:
			if a.Old == nil {
				errs = append(errs, fmt.Errorf("plan.actions[%d].old: missing for a %s", i, a.Kind))
			}
		default:
			errs = append(errs, fmt.Errorf("plan.actions[%d].kind: %q is not create, replace, remove or keep", i, a.Kind))
		}
		if a.Host == "" || a.Service == "" || a.Slot == "" {
			errs = append(errs, fmt.Errorf("plan.actions[%d]: host, service and slot must be set", i))
		}
	}
	errs = append(errs, rolloutErrors(p)...)
	for _, rs := range []struct {
		what string
		list []planner.ResourceAction
	}{{"networks", p.Networks}, {"volumes", p.Volumes}} {
		what := rs.what
		for i, r := range rs.list {
			if r.Host == "" || r.Name == "" {
				errs = append(errs, fmt.Errorf("plan.%s[%d]: host and name must be set", what, i))
			}
		}
	}
	return errs
}

// rolloutErrors lists the rolling replaces of a plan that its rollouts do
// not put in exactly one batch, and batches naming other slots: apply
// carries out the batches, so a replace left out of them would be left
// out of the run.
func rolloutErrors(p *planner.Plan) []error {
	rolls := map[string]map[string]int{} // service → slot → times batched
	for i := range p.Actions {
		if a := &p.Actions[i]; a.Old != nil && planner.Rolls(a) {
			if rolls[a.Service] == nil {
				rolls[a.Service] = map[string]int{}
			}
			rolls[a.Service][a.Slot] = 0
		}
	}
	var errs []error
	for i, r := range p.Rollouts {
		slots, ok := rolls[r.Service]
		if !ok {
			errs = append(errs, fmt.Errorf("plan.rollouts[%d]: %s replaces no running replica", i, r.Service))
			continue
		}
		for _, batch := range r.Batches {
			for _, slot := range batch {
				if _, ok := slots[slot]; !ok {
					errs = append(errs, fmt.Errorf("plan.rollouts[%d]: slot %s of %s is not replaced", i, slot, r.Service))
					continue
				}
				slots[slot]++
			}
		}
	}
	for _, svc := range sortedKeys(rolls) {
		for _, slot := range sortedKeys(rolls[svc]) {
			if n := rolls[svc][slot]; n != 1 {
				errs = append(errs, fmt.Errorf("plan.rollouts: slot %s of %s is in %d batches, not one", slot, svc, n))
			}
		}
	}
	return errs
}
