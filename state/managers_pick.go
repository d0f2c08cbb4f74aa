package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Which copy is current. Read and Write both choose among the answers of
// the managers they could ask with one rule, pickState:
//
//  1. Every copy must be of one lineage (otherwise ErrLineageMismatch).
//  2. Take the top serial T among the answers.
//  3. If every copy at T has the same content, that version is current.
//  4. If copies at T differ, the one held by a majority of ALL managers
//     (not of those that answered) is current: it is committed.
//  5. Otherwise the answers cannot tell which version is committed: a
//     *ConflictError names the copies, and nothing is chosen.
//
// Why rule 3 is safe although the only candidate may be a write that failed
// (reached a minority): a committed version W (serial s, on a majority) is
// seen by every later quorum, because any two majorities share a manager and
// a manager's serial never goes down (Write refuses to write a serial at or
// below one a reachable manager holds). So T >= s. If T = s the shared
// manager holds W itself, and rule 3 returns W. If T > s, the candidate X
// was written by a Write that checked, on its own quorum and at write time,
// that the version X is based on was the current one (see checkBase): by
// induction that base is W or a descendant of W, so X descends from W too
// and building on X loses nothing that was committed. Rule 4 cannot pick an
// uncommitted version, and two different versions of one serial cannot both
// reach a majority (the second Write would see the first on the shared
// manager and refuse). The old rule, "most holders among the answers",
// broke this: two copies of a failed write outvoted the one copy of a
// committed version that a quorum happened to show.
//
// This reasoning treats each Write as one step. Two Writes that overlap in
// time (their reads before either's writes) are kept apart by the lock, not
// by this rule: see the residual races in managers.go.

// ErrStateConflict matches a *ConflictError.
var ErrStateConflict = errors.New("managers hold conflicting versions of the state")

// ConflictCopy is one version found at the conflicting serial.
type ConflictCopy struct {
	Digest string   // short content digest, to tell the versions apart
	Hosts  []string // managers holding it
}

// ConflictError reports that the managers that answered hold different
// versions of the top serial and none of them is provably committed.
type ConflictError struct {
	Dir         string // state directory on the managers
	Serial      int64
	Copies      []ConflictCopy // most holders first
	Unreachable []string       // managers that did not answer
	Total       int            // managers in the inventory
}

func (e *ConflictError) Error() string {
	parts := make([]string, len(e.Copies))
	for i, c := range e.Copies {
		parts[i] = fmt.Sprintf("%s on %s", c.Digest, strings.Join(c.Hosts, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "managers hold different versions of state serial %d (%s) and none is held by a majority of the %d managers, so none is provably committed",
		e.Serial, strings.Join(parts, " vs "), e.Total)
	if len(e.Unreachable) > 0 {
		fmt.Fprintf(&b, "; %s did not answer: bring them back and retry, they decide", strings.Join(e.Unreachable, ", "))
	}
	host := ""
	if len(e.Copies) > 0 && len(e.Copies[0].Hosts) > 0 {
		host = e.Copies[0].Hosts[0]
	}
	fmt.Fprintf(&b, "; or repair by hand: pick the right version (e.g. `ssh %s cat %s/%s > state.json`) and `drover state push --force state.json`",
		host, e.Dir, managersStateFile)
	return b.String()
}

func (e *ConflictError) Is(target error) bool { return target == ErrStateConflict }

// NoStateError is Read's "no state". Unreachable lists the managers that
// could not be asked: when it is empty every manager answered "no state
// file", the cluster provably has no state yet, and the error matches
// ErrNoState. When it is not, one of them may hold the cluster's state: the
// error does not match ErrNoState, so that callers that start a new state
// on ErrNoState refuse instead; they can errors.As it to decide.
type NoStateError struct {
	Unreachable []HostFailure
}

func (e *NoStateError) Error() string {
	if len(e.Unreachable) == 0 {
		return ErrNoState.Error()
	}
	parts := make([]string, len(e.Unreachable))
	for i, f := range e.Unreachable {
		parts[i] = f.Host + " (" + hostReason(f.Host, f.Err) + ")"
	}
	return fmt.Sprintf("no state on the managers that answered, but %s could not be asked and may hold the cluster's state: bring them back, or remove them from the managers if they are gone for good",
		strings.Join(parts, ", "))
}

// Is matches ErrNoState only when every manager answered.
func (e *NoStateError) Is(target error) bool {
	return target == ErrNoState && len(e.Unreachable) == 0
}

func (e *NoStateError) Unwrap() []error {
	out := make([]error, len(e.Unreachable))
	for i, f := range e.Unreachable {
		out[i] = f.Err
	}
	return out
}

// digest identifies a version by its normalised content.
func digest(norm string) string {
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:6])
}

// pickState applies the rule above to the answers. nil, nil means no
// manager that answered has a state.
func (m *Managers) pickState(res []outcome[stateCopy]) (*stateCopy, error) {
	var lineages []string
	byLineage := map[string][]string{}
	var top *stateCopy
	for i := range res {
		c := &res[i].Val
		if res[i].Err != nil || !c.present {
			continue
		}
		if _, ok := byLineage[c.st.Lineage]; !ok {
			lineages = append(lineages, c.st.Lineage)
		}
		byLineage[c.st.Lineage] = append(byLineage[c.st.Lineage], fmt.Sprintf("%s (serial %d)", res[i].Host, c.st.Serial))
		if top == nil || c.st.Serial > top.st.Serial {
			top = c
		}
	}
	if len(lineages) > 1 {
		parts := make([]string, len(lineages))
		for i, l := range lineages {
			parts[i] = fmt.Sprintf("lineage %s on %s", l, strings.Join(byLineage[l], ", "))
		}
		return nil, fmt.Errorf("%w: the managers hold different states (%s); these are not versions of one state and drover does not merge them: remove the wrong state.json by hand",
			ErrLineageMismatch, strings.Join(parts, "; "))
	}
	if top == nil {
		return nil, nil
	}
	// Copies of the top serial, grouped by content.
	var versions []string
	holders := map[string][]string{}
	byNorm := map[string]*stateCopy{}
	for i := range res {
		c := &res[i].Val
		if res[i].Err != nil || !c.present || c.st.Serial != top.st.Serial {
			continue
		}
		if _, ok := holders[c.norm]; !ok {
			versions = append(versions, c.norm)
			byNorm[c.norm] = c
		}
		holders[c.norm] = append(holders[c.norm], res[i].Host)
	}
	if len(versions) == 1 {
		return byNorm[versions[0]], nil
	}
	sort.SliceStable(versions, func(i, j int) bool { return len(holders[versions[i]]) > len(holders[versions[j]]) })
	if len(holders[versions[0]]) >= m.quorum() {
		return byNorm[versions[0]], nil
	}
	e := &ConflictError{Dir: m.Dir, Serial: top.st.Serial, Total: len(m.Hosts)}
	for _, v := range versions {
		e.Copies = append(e.Copies, ConflictCopy{Digest: digest(v), Hosts: holders[v]})
	}
	for _, r := range res {
		if r.Err != nil || r.Val.corrupt != nil {
			e.Unreachable = append(e.Unreachable, r.Host)
		}
	}
	return nil, e
}
