package command

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/drover-sh/drover/state"
)

// parsePlanFile reads a plan file written by `drover plan -o`, refusing
// what that never writes: data after the document, another format, no
// plan, no stack, files without a path or digest. Whatever it accepts,
// apply can work with without a nil check.
func parsePlanFile(name string, b []byte) (*savedPlan, error) {
	var sp savedPlan
	if err := state.DecodeStrict(b, &sp); err != nil {
		return nil, fmt.Errorf("%s: not a drover plan file: %w", name, err)
	}
	if sp.Format != planFileFormat {
		return nil, fmt.Errorf("%s: plan file format %d is not supported (want %d)", name, sp.Format, planFileFormat)
	}
	var errs []error
	if sp.Plan == nil {
		errs = append(errs, errors.New("plan: missing or null"))
	}
	if sp.Stack == "" {
		errs = append(errs, errors.New("stack: missing"))
	}
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
