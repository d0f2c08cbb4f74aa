package state

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/drover-sh/drover/cluster"
)

// ErrMalformed matches a *MalformedError.
var ErrMalformed = errors.New("malformed state document")

// MalformedError names the place in a state document that is valid JSON
// but not a state drover can work with, e.g.
// stacks["shop"].services["web"].current: null.
type MalformedError struct {
	Path   string
	Reason string
}

func (e *MalformedError) Error() string { return e.Path + ": " + e.Reason }

func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(path, format string, args ...any) error {
	return &MalformedError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// checkDocument checks what every command relies on without checking it
// again: no null where an object is needed, names that agree with their
// keys, counts that are not negative. Every problem is reported, joined.
func (s *State) checkDocument() error {
	var errs []error
	if s.Serial < 0 {
		errs = append(errs, malformed("serial", "%d is negative", s.Serial))
	}
	for name, st := range s.Stacks {
		p := "stacks[" + strconv.Quote(name) + "]"
		if st == nil {
			errs = append(errs, malformed(p, "null"))
			continue
		}
		if st.Name != name {
			errs = append(errs, malformed(p+".name", "%q, the key says %q", st.Name, name))
		}
		for svcName, svc := range st.Services {
			sp := p + ".services[" + strconv.Quote(svcName) + "]"
			if svc == nil {
				errs = append(errs, malformed(sp, "null"))
				continue
			}
			errs = append(errs, checkSpec(sp+".current", svc.Current, name, svcName)...)
			seen := map[int]bool{}
			if svc.Current != nil {
				seen[svc.Current.Generation] = true
			}
			for i, g := range svc.Previous {
				gp := sp + ".previous[" + strconv.Itoa(i) + "].spec"
				errs = append(errs, checkSpec(gp, g.Spec, name, svcName)...)
				if g.Spec == nil {
					continue
				}
				if seen[g.Spec.Generation] {
					errs = append(errs, malformed(gp+".generation", "%d appears twice in this service", g.Spec.Generation))
				}
				seen[g.Spec.Generation] = true
			}
			if len(svc.Previous) > MaxGenerations {
				errs = append(errs, malformed(sp+".previous", "%d generations, at most %d are kept", len(svc.Previous), MaxGenerations))
			}
		}
	}
	return errors.Join(errs...)
}

// checkSpec checks one service spec found at path in stack/service.
func checkSpec(path string, sv *cluster.Service, stack, service string) []error {
	if sv == nil {
		return []error{malformed(path, "null")}
	}
	var errs []error
	if sv.Stack != stack {
		errs = append(errs, malformed(path+".stack", "%q, the stack is %q", sv.Stack, stack))
	}
	if sv.Name != service {
		errs = append(errs, malformed(path+".name", "%q, the key says %q", sv.Name, service))
	}
	if sv.Generation < 0 {
		errs = append(errs, malformed(path+".generation", "%d is negative", sv.Generation))
	}
	switch sv.Mode {
	case cluster.Replicated, cluster.Global, "":
	default:
		errs = append(errs, malformed(path+".mode", "%q: must be replicated or global", sv.Mode))
	}
	if sv.Replicas < 0 {
		errs = append(errs, malformed(path+".replicas", "%d is negative", sv.Replicas))
	}
	for _, u := range []struct {
		key string
		p   cluster.UpdatePolicy
	}{{"update_config", sv.Update}, {"rollback_config", sv.Rollback}} {
		if u.p.Parallelism < 0 {
			errs = append(errs, malformed(path+"."+u.key+".parallelism", "%d is negative", u.p.Parallelism))
		}
		if u.p.Delay < 0 || u.p.Monitor < 0 {
			errs = append(errs, malformed(path+"."+u.key, "negative delay or monitor"))
		}
		if !(u.p.MaxFailureRatio >= 0 && u.p.MaxFailureRatio <= 1) {
			errs = append(errs, malformed(path+"."+u.key+".max_failure_ratio", "%v: must be from 0 to 1", u.p.MaxFailureRatio))
		}
	}
	if sv.UpdateTimeout < 0 {
		errs = append(errs, malformed(path+".update_timeout", "%s is negative", sv.UpdateTimeout))
	}
	return errs
}
