package state

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Which copy is current. Read and Write choose among the answers of the
// managers they could ask with one rule, pickState. Every version names
// the versions it was built on (State.Ancestors, "SERIAL:DIGEST", newest
// first), so a copy tells which versions it descends from.
//
//  1. Every copy must be of one lineage (otherwise ErrLineageMismatch).
//  2. A version V known from the answers (a copy, or an ancestor a copy
//     names) may be committed — held by a majority of all the managers —
//     unless too few managers could hold it: mayHold(V) counts the
//     managers that did not answer plus those whose copy is V or descends
//     from V. V may be committed when mayHold(V) >= the majority.
//  3. The current version is the copy, of the highest serial, that is or
//     descends from every version that may be committed (ties: the copy
//     most managers hold, then the smaller digest). If no copy does, the
//     answers cannot tell which version is committed: a *ConflictError
//     names the copies, and nothing is chosen.
//
// Why no committed version is lost. Invariant H: once a version C is
// committed (it reached a majority M), every manager of M holds C or a
// descendant of C. It holds when C is written; a later Write replaces a
// manager's copy only with a version built on the current one, which by
// rule 3 and induction descends from C (see checkBase). So for a quorum of
// answers, every manager of M either did not answer or holds a descendant
// of C: mayHold(C) >= |M| >= majority, C may be committed, and rule 3
// returns a copy built on C. C is known to the rule because a copy that
// descends from it names it, as long as the copy is fewer than
// MaxAncestors versions after it; a copy that names MaxAncestors ancestors
// and none of serial <= C's is assumed to descend from C, and so is a copy
// written before drover kept ancestors (it names none).
//
// Why the simpler rules are not enough (the model test in
// managers_model_test.go finds each): "most holders among the answers"
// lets two copies of a failed write outvote the one copy of a committed
// version that a quorum happened to show; "the top serial if it is the
// only candidate" lets a failed write of serial 6, left on a manager that
// was down when serial 5 was committed elsewhere, bury serial 5 once the
// managers meet again.
//
// This reasoning treats each Write as one step. Two Writes that overlap in
// time (their reads before either's writes) are kept apart by the lock, not
// by this rule: see the residual races in managers.go.

// ErrStateConflict matches a *ConflictError.
var ErrStateConflict = errors.New("managers hold conflicting versions of the state")

// ConflictCopy is one version found at the conflicting serial.
type ConflictCopy struct {
	Serial int64
	Digest string   // content digest, to tell the versions apart
	Hosts  []string // managers holding it
}

// ConflictError reports that the managers that answered hold versions of
// which none is provably built on every version that may be committed.
type ConflictError struct {
	Dir         string         // state directory on the managers
	Serial      int64          // the top serial among the copies
	Copies      []ConflictCopy // highest serial first, then most holders
	Unreachable []string       // managers that did not answer
	Total       int            // managers in the inventory
}

func (e *ConflictError) Error() string {
	parts := make([]string, len(e.Copies))
	for i, c := range e.Copies {
		parts[i] = fmt.Sprintf("serial %d %s on %s", c.Serial, c.Digest, strings.Join(c.Hosts, ", "))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "managers hold diverging versions of the state (%s): a write reached only some of them, and the answers of %d managers cannot tell which version is committed",
		strings.Join(parts, " vs "), e.Total-len(e.Unreachable))
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

// digest identifies a version by the bytes of its file: the first 16 hex
// digits of its SHA-256 (`sha256sum state.json` shows them). Not of the
// document re-rendered, which changes when drover's State type does.
func digest[T string | []byte](raw T) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:8])
}

// versionRef is how a version names another in Ancestors.
func versionRef(serial int64, raw []byte) string {
	return strconv.FormatInt(serial, 10) + ":" + digest(raw)
}

// refSerial is the serial part of a versionRef, -1 if malformed.
func refSerial(ref string) int64 {
	i := strings.IndexByte(ref, ':')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(ref[:i], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// ancestorsFor is the Ancestors of a version built on parent.
func ancestorsFor(parent *stateCopy) []string {
	out := append([]string{versionRef(parent.st.Serial, parent.raw)}, parent.st.Ancestors...)
	return out[:min(len(out), MaxAncestors)]
}

// version is one version the answers show or name.
type version struct {
	ref    string
	serial int64
	copy   *stateCopy // nil: only named as an ancestor
	hosts  []string   // managers holding it
}

// descends reports whether the copy c is the version ref (of serial n)
// or was built on it.
func descends(c *stateCopy, ref string, n int64) bool {
	if c.ref == ref {
		return true
	}
	if n >= c.st.Serial {
		return false
	}
	anc := c.st.Ancestors
	if len(anc) == 0 && c.st.Serial > 1 {
		return true // written before ancestors were kept
	}
	for _, a := range anc {
		if a == ref {
			return true
		}
	}
	// Beyond what the list reaches: assumed.
	return len(anc) >= MaxAncestors && n < refSerial(anc[len(anc)-1])
}

// pickState applies the rule above to the answers. nil, nil means no
// manager that answered has a state.
func (m *Managers) pickState(res []outcome[stateCopy]) (*stateCopy, error) {
	var lineages []string
	byLineage := map[string][]string{}
	unanswered := 0
	var copies []*stateCopy // with ref set
	hostOf := map[*stateCopy]string{}
	for i := range res {
		c := &res[i].Val
		if res[i].Err != nil || c.corrupt != nil {
			unanswered++
			continue
		}
		if !c.present {
			continue
		}
		if _, ok := byLineage[c.st.Lineage]; !ok {
			lineages = append(lineages, c.st.Lineage)
		}
		byLineage[c.st.Lineage] = append(byLineage[c.st.Lineage], fmt.Sprintf("%s (serial %d)", res[i].Host, c.st.Serial))
		if c.ref == "" {
			c.ref = versionRef(c.st.Serial, c.raw)
		}
		copies = append(copies, c)
		hostOf[c] = res[i].Host
	}
	if len(lineages) > 1 {
		parts := make([]string, len(lineages))
		for i, l := range lineages {
			parts[i] = fmt.Sprintf("lineage %s on %s", l, strings.Join(byLineage[l], ", "))
		}
		return nil, fmt.Errorf("%w: the managers hold different states (%s); these are not versions of one state and drover does not merge them: remove the wrong state.json by hand",
			ErrLineageMismatch, strings.Join(parts, "; "))
	}
	if len(copies) == 0 {
		return nil, nil
	}
	// Every version shown or named.
	var known []*version
	byRef := map[string]*version{}
	add := func(ref string, serial int64) *version {
		v, ok := byRef[ref]
		if !ok {
			v = &version{ref: ref, serial: serial}
			byRef[ref] = v
			known = append(known, v)
		}
		return v
	}
	for _, c := range copies {
		v := add(c.ref, c.st.Serial)
		v.copy = c
		v.hosts = append(v.hosts, hostOf[c])
		for _, a := range c.st.Ancestors {
			add(a, refSerial(a))
		}
	}
	var mayCommit []*version
	for _, v := range known {
		n := unanswered
		for _, c := range copies {
			if descends(c, v.ref, v.serial) {
				n++
			}
		}
		if n >= m.quorum() {
			mayCommit = append(mayCommit, v)
		}
	}
	var best *version
	for _, v := range known {
		if v.copy == nil {
			continue
		}
		ok := true
		for _, w := range mayCommit {
			if !descends(v.copy, w.ref, w.serial) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if best == nil || v.serial > best.serial ||
			v.serial == best.serial && (len(v.hosts) > len(best.hosts) || len(v.hosts) == len(best.hosts) && v.ref < best.ref) {
			best = v
		}
	}
	if best != nil {
		return best.copy, nil
	}
	e := &ConflictError{Dir: m.Dir, Total: len(m.Hosts)}
	var shown []*version
	for _, v := range known {
		if v.copy != nil {
			shown = append(shown, v)
		}
	}
	sort.SliceStable(shown, func(i, j int) bool {
		if shown[i].serial != shown[j].serial {
			return shown[i].serial > shown[j].serial
		}
		return len(shown[i].hosts) > len(shown[j].hosts)
	})
	e.Serial = shown[0].serial
	for _, v := range shown {
		e.Copies = append(e.Copies, ConflictCopy{Serial: v.serial, Digest: digest(v.copy.raw), Hosts: v.hosts})
	}
	for _, r := range res {
		if r.Err != nil || r.Val.corrupt != nil {
			e.Unreachable = append(e.Unreachable, r.Host)
		}
	}
	return nil, e
}
