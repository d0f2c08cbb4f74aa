package state

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
)

// stateCopy is what one manager holds in state.json.
type stateCopy struct {
	present bool   // the file exists and parses
	raw     []byte // the file as read
	st      *State
	norm    string // st re-rendered, to compare copies whatever their layout
	ref     string // versionRef, set by pickState
	corrupt error  // the file exists but is not a state document
}

func (m *Managers) readCopy(ctx context.Context, host string, rfs RemoteFS) (stateCopy, error) {
	raw, err := rfs.ReadFile(ctx, m.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		return stateCopy{}, nil
	}
	if err != nil {
		return stateCopy{}, err
	}
	s, err := Decode(raw)
	if err != nil {
		return stateCopy{raw: raw, corrupt: fmt.Errorf("%s is not valid JSON: %w (the previous version is in %s)", m.statePath(), err, m.backupPath())}, nil
	}
	norm, err := Marshal(s)
	if err != nil {
		return stateCopy{}, err
	}
	return stateCopy{present: true, raw: raw, st: s, norm: string(norm)}, nil
}

func (m *Managers) readAll(ctx context.Context) []outcome[stateCopy] {
	return fanout(ctx, m, m.Hosts, m.quorum(), m.readCopy)
}

// Read asks every manager and needs a majority of answers. It returns the
// current version by the rule of pickState (a *ConflictError when the
// answers cannot tell), or a *NoStateError when no manager that answered
// holds a state: that matches ErrNoState only if every manager answered.
// It remembers what it returned, for Write's compare-and-swap.
func (m *Managers) Read(ctx context.Context) (*State, error) {
	s, base, err := m.read(ctx)
	if base == nil {
		base = &readBase{failed: err}
	}
	m.setBase(base)
	return s, err
}

func (m *Managers) read(ctx context.Context) (*State, *readBase, error) {
	if err := m.check(); err != nil {
		return nil, nil, err
	}
	res := m.readAll(ctx)
	var failed []HostFailure
	answered := 0
	for _, r := range res {
		switch {
		case r.Err != nil:
			failed = append(failed, HostFailure{r.Host, r.Err})
		case r.Val.corrupt != nil:
			// Not an answer: it may have held the newest state.
			failed = append(failed, HostFailure{r.Host, r.Val.corrupt})
		default:
			answered++
		}
	}
	if answered < m.quorum() {
		return nil, nil, &QuorumError{Op: "read", OK: answered, Total: len(m.Hosts), Need: m.quorum(), Failed: failed}
	}
	best, err := m.pick(res)
	if err != nil {
		return nil, nil, err
	}
	if m.OnLagging != nil {
		for _, r := range res {
			switch {
			case r.Err != nil || r.Val.corrupt != nil:
				m.OnLagging(r.Host, -1)
			case best == nil:
			case !r.Val.present:
				m.OnLagging(r.Host, 0)
			case r.Val.norm != best.norm:
				m.OnLagging(r.Host, r.Val.st.Serial)
			}
		}
	}
	if best == nil {
		// Provably empty only if every manager answered.
		return nil, &readBase{}, &NoStateError{Unreachable: failed}
	}
	return best.st, &readBase{present: true, lineage: best.st.Lineage, serial: best.st.Serial, norm: best.norm, digest: digest(best.raw)}, nil
}

// readBase is the version a Read returned (present false: no state), or
// why it failed.
type readBase struct {
	failed  error
	present bool
	lineage string
	serial  int64
	norm    string
	digest  string
}

func (m *Managers) setBase(b *readBase) {
	m.baseMu.Lock()
	m.base = b
	m.baseMu.Unlock()
}

func (m *Managers) getBase() *readBase {
	m.baseMu.Lock()
	defer m.baseMu.Unlock()
	return m.base
}

func (m *Managers) pick(res []outcome[stateCopy]) (*stateCopy, error) {
	if m.selectRule != nil {
		return m.selectRule(res)
	}
	return m.pickState(res)
}
