package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// checkBase is Write's compare-and-swap: the version the caller read (its
// last Read through m) must still be the current one among the managers
// Write could ask, or s must be that very version (a retried write).
// Without it, a run that read a version which then lost to another one
// would build on the loser and bury the committed version. It then sets
// s.Ancestors: s is built on the current version.
//
// Stray copies with a serial at or above s's (failed writes that the rule
// of pickState passed over) are not a reason to refuse: the current
// version does not descend from them, so none of them may be committed,
// and s replaces them.
//
// A Write with no Read before it, and ForceWrite, are checked the old way,
// by serial, and s supersedes (names as ancestors) every copy found. A
// Write after a failed Read is refused.
func (m *Managers) checkBase(res []outcome[stateCopy], s *State, force bool) error {
	given, err := Marshal(s)
	if err != nil {
		return err
	}
	norm := string(given)
	base := m.getBase()
	if force || m.skipBaseCheck || base == nil || base.present && base.lineage != s.Lineage {
		return m.checkSerials(res, s, norm)
	}
	if base.failed != nil {
		return fmt.Errorf("%w: the last read of the state failed, so this write has nothing to build on (%w); nothing was written",
			ErrStaleWrite, base.failed)
	}
	cur, err := m.pick(res)
	if err != nil {
		return fmt.Errorf("%w: %w; nothing was written", ErrStaleWrite, err)
	}
	switch {
	case cur != nil && cur.norm == norm:
		return nil // a retry: it is already current
	case !base.present && cur != nil:
		return fmt.Errorf("%w: this run read no state, but the managers now hold serial %d (written by another run; was the lock held?); nothing was written",
			ErrStaleWrite, cur.st.Serial)
	case base.present && cur == nil:
		return fmt.Errorf("%w: this run read serial %d, but no manager that answered now holds a state; nothing was written",
			ErrStaleWrite, base.serial)
	case base.present && cur.norm != base.norm:
		return fmt.Errorf("%w: this run read serial %d (%s), but the current version is now serial %d (%s), written by another run (was the lock held?); nothing was written",
			ErrStaleWrite, base.serial, base.digest, cur.st.Serial, digest(cur.raw))
	case cur == nil:
		s.Ancestors = nil
		return nil
	case s.Serial <= cur.st.Serial:
		var on []string
		for _, r := range res {
			if r.Err == nil && r.Val.present && r.Val.norm == cur.norm {
				on = append(on, r.Host)
			}
		}
		return fmt.Errorf("%w: managers %s already hold serial %d, refusing to write serial %d over it; nothing was written",
			ErrStaleWrite, strings.Join(on, ", "), cur.st.Serial, s.Serial)
	}
	s.Ancestors = ancestorsFor(cur)
	return nil
}

// checkSerials is the check of a Write without a Read before it.
func (m *Managers) checkSerials(res []outcome[stateCopy], s *State, norm string) error {
	retry := false
	for _, r := range res {
		c := r.Val
		if r.Err != nil || !c.present {
			continue
		}
		if c.norm == norm {
			retry = true
			continue
		}
		if c.st.Serial >= s.Serial {
			return fmt.Errorf("%w: manager %s already holds serial %d, refusing to write serial %d over it (another run wrote the state; was the lock held?); nothing was written",
				ErrStaleWrite, r.Host, c.st.Serial, s.Serial)
		}
	}
	if retry {
		return nil
	}
	// s supersedes every copy: a reader that meets one of them later
	// takes s over it.
	var copies []*stateCopy
	for i := range res {
		if c := &res[i].Val; res[i].Err == nil && c.present {
			copies = append(copies, c)
		}
	}
	sort.SliceStable(copies, func(i, j int) bool { return copies[i].st.Serial > copies[j].st.Serial })
	seen := map[string]bool{}
	var anc []string
	for _, c := range copies {
		for _, ref := range ancestorsFor(c) {
			if !seen[ref] {
				seen[ref] = true
				anc = append(anc, ref)
			}
		}
	}
	s.Ancestors = anc[:min(len(anc), MaxAncestors)]
	return nil
}

// Write writes s to every reachable manager, keeping each one's previous
// state as state.json.backup, and succeeds when a majority hold it. s is
// meant to be the state the last Read through m returned, with its Serial
// incremented: Write checks that this version is still the current one
// and that s's serial is above it (checkBase), and records it in
// s.Ancestors. Without a Read before it (a copy into an empty store, a
// forced push over a conflict), Write refuses if a reachable manager holds
// s's serial with other content or a higher one, and s supersedes every
// copy found. Either way it refuses (ErrStaleWrite) rather than go
// backwards, and refuses (ErrLineageMismatch) if a manager holds a state
// of another lineage; nothing is written then. Managers that lag behind,
// or hold a stray copy of a failed write, are brought up to date.
func (m *Managers) Write(ctx context.Context, s *State) error {
	return m.write(ctx, s, false)
}

// ForceWrite is Write without the check of what s is built on: the serial
// checks still apply, and s supersedes every copy found. It is how a
// conflict (*ConflictError) is settled by hand: `drover state push
// --force` writes the version the operator chose with a serial above every
// copy.
func (m *Managers) ForceWrite(ctx context.Context, s *State) error {
	return m.write(ctx, s, true)
}

func (m *Managers) write(ctx context.Context, s *State, force bool) error {
	if err := m.check(); err != nil {
		return err
	}
	if s == nil || s.Lineage == "" {
		return errors.New("refusing to write a state without lineage")
	}
	if err := checkSealed(s); err != nil {
		return err
	}
	res := m.readAll(ctx)
	var failed []HostFailure
	var reachable []string
	have := map[string]stateCopy{}
	for _, r := range res {
		if r.Err != nil {
			failed = append(failed, HostFailure{r.Host, r.Err})
			continue
		}
		reachable = append(reachable, r.Host)
	}
	if len(reachable) < m.quorum() {
		return &QuorumError{Op: "write", OK: len(reachable), Total: len(m.Hosts), Need: m.quorum(), Failed: failed}
	}
	for _, r := range res {
		c := r.Val
		if r.Err != nil || !c.present {
			continue
		}
		if c.st.Lineage != s.Lineage {
			return fmt.Errorf("%w: manager %s holds a state of lineage %s (serial %d), this one is lineage %s: refusing to replace it; nothing was written",
				ErrLineageMismatch, r.Host, c.st.Lineage, c.st.Serial, s.Lineage)
		}
	}
	if err := m.checkBase(res, s, force); err != nil {
		return err
	}
	data, err := Marshal(s)
	if err != nil {
		return err
	}
	norm := string(data)
	for _, r := range res {
		if r.Err == nil {
			have[r.Host] = r.Val
		}
	}
	wrote := fanout(ctx, m, reachable, m.quorum(), func(ctx context.Context, host string, rfs RemoteFS) (struct{}, error) {
		c := have[host]
		if c.present && c.norm == norm {
			return struct{}{}, nil // already there (a retried write)
		}
		if c.present {
			// A corrupt file is not kept: it would replace a good backup.
			if err := rfs.WriteFileAtomic(ctx, m.backupPath(), bytes.NewReader(c.raw), 0o600); err != nil {
				return struct{}{}, fmt.Errorf("keep backup of state: %w", err)
			}
		}
		return struct{}{}, rfs.WriteFileAtomic(ctx, m.statePath(), bytes.NewReader(data), 0o600)
	})
	ok := 0
	for _, r := range wrote {
		if r.Err != nil {
			failed = append(failed, HostFailure{r.Host, r.Err})
		} else {
			ok++
		}
	}
	sort.SliceStable(failed, func(i, j int) bool { return m.index(failed[i].Host) < m.index(failed[j].Host) })
	if m.OnLagging != nil {
		for _, f := range failed {
			serial := int64(-1)
			if c, ok := have[f.Host]; ok && c.present {
				serial = c.st.Serial
			}
			m.OnLagging(f.Host, serial)
		}
	}
	if ok < m.quorum() {
		return &QuorumError{Op: "write", Written: true, OK: ok, Total: len(m.Hosts), Need: m.quorum(), Failed: failed}
	}
	m.setBase(&readBase{present: true, lineage: s.Lineage, serial: s.Serial, norm: norm, digest: digest(data)})
	return nil
}
