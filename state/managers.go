package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drover-sh/drover/ssh"
)

// The managers backend (state: {backend: managers}) keeps the state document
// on every manager host, over SFTP, so that every machine that runs drover
// (a laptop, a cron host, a CI runner) shares one truth. In Dir on each
// manager:
//
//	state.json         the state document
//	state.json.backup  the version before it
//	lock.json          the lease of the run holding the lock (a LockInfo)
//
// Every operation needs a majority of the managers (2 of 3, 3 of 5), so any
// two operations see at least one manager in common:
//
//   - Lock creates lock.json exclusively on a majority. The lease names its
//     holder and an expiry; the holder rewrites it every TTL/3 and removes it
//     on Release. An expired lease, or one of a dead process of this machine,
//     is taken over (see "Takeover" below). Contenders try the first manager
//     alone before the others, so that two runs starting together do not
//     split the managers between them and both give up: whoever wins the
//     first manager normally wins the rest.
//   - Read reads state.json from every manager and needs a majority of
//     answers ("no file" is an answer). It picks the current version by the
//     rule in managers_pick.go: the highest copy built on every version that
//     may be committed, or a *ConflictError when the answers cannot tell.
//     States of different lineages are an error, never merged. "No state"
//     matches ErrNoState only when every manager answered (NoStateError).
//     A manager that lags (older version, no file, unreachable) is reported
//     through OnLagging.
//   - Write reads every manager again and refuses unless the version the
//     caller read is still the current one and the new serial is above it
//     (a compare-and-swap on the read version), or across lineages; it
//     records that version in State.Ancestors, then writes to every
//     reachable manager, the lagging ones included: they are repaired by
//     the next write. It succeeds when a majority was written.
//   - Every operation on one manager has a deadline (OpTimeout), and
//     fan-outs return once a majority answered plus a short grace
//     (managers_fanout.go): a hung manager counts as unreachable and does
//     not hold up reads, writes, the lock or its renewal.
//
// Takeover of an expired lease. SFTP has no compare-and-delete: removing a
// lease judged expired could remove a fresh lease that another run created
// in between. With a RemoteFS that can rename (Renamer), the judged lease is
// renamed to a unique tombstone, which succeeds for one run only; the
// tombstone is read back and removed only if it holds exactly the bytes that
// were judged expired. Otherwise (the holder renewed it, or another run took
// it over first) it is put back with an exclusive create and this manager
// counts as held.
//
// Residual races, accepted because each needs an expired lease (or a hung
// manager that resumes) plus a precise interleaving of several runs, and
// because a lease holder that loses its majority is told through Lock.Lost
// within one renewal interval:
//
//   - Between the rename of a lease that turns out to be fresh and its
//     put-back, lock.json is missing on that manager and a third run may
//     create its own lease there; the put-back then fails and the owner of
//     the moved lease has lost that manager. Its next renewal (TTL/3)
//     notices and, if it no longer holds a majority, closes Lost. Until then
//     two runs may each believe they hold a majority.
//   - Without Renamer, takeover is read, compare, remove, create: a lease
//     created by another run between the read and the remove is removed.
//   - Expiry is judged with the judging machine's clock: clocks of the
//     machines running drover must agree to well within the TTL (NTP).
//   - Renewal reads the lease, checks that it is still ours and rewrites it:
//     if the lease expired between the check and the write, another run may
//     have taken it over and the rewrite replaces its lease. Renewal runs
//     every TTL/3 and gives the lease up (Lost) rather than renew it within
//     TTL/10 of its expiry, so this needs renewals to have failed for most
//     of a TTL and then a round trip slower than TTL/10.
//   - CreateExclusive writes the content after creating the file, so an
//     empty or unreadable lease may be one being written: it is judged only
//     if it is still the same after a grace period, and then as expired
//     (left by a run that died while creating it).
//   - Nothing fences writes: a run that lost its lease and does not watch
//     Lost can still Write. Write's check of the version it read refuses
//     the second of two runs that read the same version, unless their
//     checks and writes interleave (both read every manager before either
//     writes): the safety argument of managers_pick.go treats each Write
//     as one step, which the lock provides.
//   - A request to a hung manager that the fan-out stopped waiting for is
//     not taken back (SFTP cannot): it may land when the manager resumes,
//     after later versions were written there, and put an older copy back.
//     With 3 managers the later version keeps its majority; with 5, two
//     such managers could take a committed version below a majority.
//   - Ancestors reach back MaxAncestors versions; a copy further ahead of a
//     version is assumed to descend from it, and so is a copy written
//     before ancestors were kept.
//
// Leftover tombstones (lock.json.tomb-*) of a run killed mid-takeover are
// harmless and may be deleted by hand.

// DefaultManagersDir is where the managers backend keeps a cluster's state
// unless configured otherwise.
func DefaultManagersDir(clusterName string) string {
	return path.Join("/var/lib/drover", clusterName)
}

// RemoteFS is what the managers backend needs of a host: *ssh.Client has it.
// Missing files yield errors matching fs.ErrNotExist, and CreateExclusive of
// an existing file one matching fs.ErrExist.
type RemoteFS interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
	WriteFileAtomic(ctx context.Context, path string, r io.Reader, mode os.FileMode) error
	CreateExclusive(ctx context.Context, path string, data []byte, mode os.FileMode) error
	Remove(ctx context.Context, path string) error
}

// Renamer is implemented by a RemoteFS that can rename files. The managers
// backend then takes over and releases leases through tombstones, which
// closes the race of a plain read-compare-remove. Rename must fail with an
// error matching fs.ErrNotExist when oldpath does not exist; whether it
// replaces an existing newpath does not matter (tombstone names are unique).
type Renamer interface {
	Rename(ctx context.Context, oldpath, newpath string) error
}

// DirMaker is implemented by a RemoteFS that can create directories. Without
// it, the state directory is created by writing and removing a temporary
// file with WriteFileAtomic, which creates missing parents.
type DirMaker interface {
	MkdirAll(ctx context.Context, dir string) error
}

// Managers keeps the state on the manager hosts. See the comment above for
// the protocol.
type Managers struct {
	// Hosts are the manager host names, in inventory order. The first is
	// the one contenders for the lock try first.
	Hosts []string
	// Open returns the run's pooled connection to a host.
	Open func(ctx context.Context, host string) (RemoteFS, error)
	// Dir is the state directory on every manager, e.g.
	// /var/lib/drover/CLUSTER (DefaultManagersDir).
	Dir string
	// TTL is how long a lease lives without renewal; 0 means 2 minutes.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Machine is this machine's name: a lease of a process of this machine
	// that no longer exists is taken over without waiting for it to expire.
	Machine string
	// OnTakeover is told, once per lease, when Lock took over an expired
	// lease.
	OnTakeover func(old LockInfo)
	// OnLagging is told about managers that did not hold, or did not get,
	// the current state: after Read about those with a lower serial (0 when
	// they have no state file) or that could not be read (-1); after Write
	// about those that could not be written, with the serial they hold (-1
	// when unknown). Use it for warnings.
	OnLagging func(host string, serial int64)

	// OpTimeout bounds each operation on one manager, connecting
	// included; 0 means DefaultOpTimeout (10s). A manager that does not
	// answer in time counts as unreachable for that operation. Fan-outs
	// over the managers do not wait that long for a straggler once a
	// majority has answered (see fanout).
	OpTimeout time.Duration

	// answerWait replaces defaultAnswerGrace (tests).
	answerWait time.Duration
	// selectRule replaces pickState (tests: the old rule, to show the
	// model checker catches it); nil means pickState.
	selectRule func(res []outcome[stateCopy]) (*stateCopy, error)

	// skipBaseCheck turns checkBase off (tests, as selectRule).
	skipBaseCheck bool

	// base is what the last Read returned: Write builds on it only if it
	// is still the current version (see checkBase).
	baseMu sync.Mutex
	base   *readBase

	// leaseGrace is how long an unreadable lease is given to become
	// readable (tests shorten it); 0 means a second.
	leaseGrace time.Duration
}

var _ Store = (*Managers)(nil)

// Files in Dir.
const (
	managersStateFile  = "state.json"
	managersBackupFile = "state.json.backup"
	managersLockFile   = "lock.json"
	// maxLeaseAttempts bounds the create / judge / take over rounds on one
	// manager while its lease keeps changing under us.
	maxLeaseAttempts = 5
	// firstManagerPatience bounds how long Lock waits for the first
	// manager alone before asking the others (and a tenth of the TTL: the
	// lease's clock is running).
	firstManagerPatience = 2 * time.Second
)

// ErrNoQuorum matches a *QuorumError.
var ErrNoQuorum = errors.New("no majority of managers")

// ErrLineageMismatch is returned when managers hold states of different
// lineages, or a write would replace a state of another lineage.
var ErrLineageMismatch = errors.New("state lineage mismatch")

// ErrStaleWrite is returned by Write when a manager already holds the
// serial being written, or a higher one: the state changed since the
// caller read it.
var ErrStaleWrite = errors.New("state changed since it was read")

// HostFailure is why one manager could not take part.
type HostFailure struct {
	Host string
	Err  error
}

// QuorumError reports that fewer than a majority of the managers could be
// reached, or written.
type QuorumError struct {
	Op      string // lock | read | write | lock status | unlock
	Written bool   // OK counts managers written (the others failed mid-write)
	OK      int
	Total   int
	Need    int
	Failed  []HostFailure
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	b.WriteString("state needs a majority of managers: ")
	if e.Written {
		fmt.Fprintf(&b, "written to %d of %d", e.OK, e.Total)
	} else {
		fmt.Fprintf(&b, "%d of %d reachable", e.OK, e.Total)
	}
	if len(e.Failed) > 0 {
		parts := make([]string, len(e.Failed))
		for i, f := range e.Failed {
			parts[i] = f.Host + ": " + hostReason(f.Host, f.Err)
		}
		b.WriteString(" (" + strings.Join(parts, "; ") + ")")
	}
	return b.String()
}

func (e *QuorumError) Is(target error) bool { return target == ErrNoQuorum }

func (e *QuorumError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Err
	}
	return out
}

// hostReason is a short reason for a host's failure, such as "connection
// refused" or "timeout", without the host name repeated.
func hostReason(host string, err error) string {
	return strings.TrimPrefix(ssh.Reason(err), host+": ")
}

func (m *Managers) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Managers) ttl() time.Duration {
	if m.TTL > 0 {
		return m.TTL
	}
	return 2 * time.Minute
}

func (m *Managers) grace() time.Duration {
	if m.leaseGrace > 0 {
		return m.leaseGrace
	}
	return time.Second
}

// quorum is the majority of the managers.
func (m *Managers) quorum() int { return len(m.Hosts)/2 + 1 }

func (m *Managers) statePath() string  { return path.Join(m.Dir, managersStateFile) }
func (m *Managers) backupPath() string { return path.Join(m.Dir, managersBackupFile) }
func (m *Managers) lockPath() string   { return path.Join(m.Dir, managersLockFile) }

// Describe names the state file and the managers.
func (m *Managers) Describe() string {
	return fmt.Sprintf("%s on managers %s", m.statePath(), strings.Join(m.Hosts, ", "))
}

func (m *Managers) check() error {
	switch {
	case len(m.Hosts) == 0:
		return errors.New("state backend managers: the inventory has no host with role manager")
	case m.Dir == "":
		return errors.New("state backend managers: no state directory configured")
	case m.Open == nil:
		return errors.New("state backend managers: no way to reach the managers (Open is nil)")
	}
	seen := map[string]bool{}
	for _, h := range m.Hosts {
		if seen[h] {
			return fmt.Errorf("state backend managers: manager %s listed twice", h)
		}
		seen[h] = true
	}
	return nil
}

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

func (m *Managers) index(host string) int {
	for i, h := range m.Hosts {
		if h == host {
			return i
		}
	}
	return len(m.Hosts)
}

// parseLease parses a lease file; false if it is not a complete lease.
func parseLease(raw []byte) (*LockInfo, bool) {
	var info LockInfo
	if err := json.Unmarshal(raw, &info); err != nil || info.ID == "" {
		return nil, false
	}
	return &info, true
}

// readLease reads a manager's lease. An unreadable one is looked at again
// after the grace period, as it may be a lease being written: if it is still
// the same it is returned as an expired lease of an unknown holder, if it
// changed but is still unreadable as a live one.
func (m *Managers) readLease(ctx context.Context, rfs RemoteFS) ([]byte, *LockInfo, error) {
	raw, err := rfs.ReadFile(ctx, m.lockPath())
	if err != nil {
		return nil, nil, err
	}
	if info, ok := parseLease(raw); ok {
		return raw, info, nil
	}
	select {
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-time.After(m.grace()):
	}
	again, err := rfs.ReadFile(ctx, m.lockPath())
	if err != nil {
		return nil, nil, err
	}
	if info, ok := parseLease(again); ok {
		return again, info, nil
	}
	if !bytes.Equal(raw, again) {
		return again, &LockInfo{Owner: "unknown (lease being written)", Expires: m.now().Add(m.grace())}, nil
	}
	return again, &LockInfo{Owner: "unknown (unreadable lease file left by a run that died)"}, nil
}

// takeable reports whether a lease may be taken over: it expired, or its
// process on this machine is gone.
func (m *Managers) takeable(info *LockInfo) bool {
	if !m.now().Before(info.Expires) {
		return true
	}
	return info.ID != "" && LocalIdentity().HolderGone(m.Machine, info)
}

// removeLease removes a manager's lease if want approves of it, and reports
// whether it did. With Renamer the lease is first renamed to a unique
// tombstone and judged again there: only the run whose rename succeeded
// judges it, and a lease that is not the one wanted (it was renewed or
// replaced since it was read) is put back, exclusively so as not to clobber
// a lease created in the meantime.
func (m *Managers) removeLease(ctx context.Context, rfs RemoteFS, want func(raw []byte) bool) (bool, error) {
	lock := m.lockPath()
	raw, err := rfs.ReadFile(ctx, lock)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !want(raw) {
		return false, nil
	}
	r, ok := rfs.(Renamer)
	if !ok {
		// Residual race: a lease created between the read and the remove
		// is removed.
		err := rfs.Remove(ctx, lock)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	tomb := lock + ".tomb-" + randomHex(8)
	if err := r.Rename(ctx, lock, tomb); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil // someone else moved or removed it first
		}
		return false, err
	}
	got, err := rfs.ReadFile(ctx, tomb)
	if err != nil {
		// Moved aside but unreadable: we cannot tell whose it was. Its
		// owner, if alive, notices at its next renewal.
		return false, fmt.Errorf("read back %s: %w", tomb, err)
	}
	if want(got) {
		if err := rfs.Remove(ctx, tomb); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return true, fmt.Errorf("remove %s: %w", tomb, err)
		}
		return true, nil
	}
	// Not the lease we judged: put it back.
	perr := rfs.CreateExclusive(ctx, lock, got, 0o600)
	if perr != nil && !errors.Is(perr, fs.ErrExist) {
		return false, fmt.Errorf("put back lease moved to %s: %w", tomb, perr)
	}
	// On ErrExist a lease was created while ours was moved aside: the
	// moved lease's owner has lost this manager and learns it when it
	// renews.
	rfs.Remove(ctx, tomb)
	return false, nil
}

// mkdir creates Dir on a manager.
func (m *Managers) mkdir(ctx context.Context, rfs RemoteFS) error {
	if d, ok := rfs.(DirMaker); ok {
		return d.MkdirAll(ctx, m.Dir)
	}
	probe := path.Join(m.Dir, ".mkdir-"+randomHex(6))
	if err := rfs.WriteFileAtomic(ctx, probe, bytes.NewReader(nil), 0o600); err != nil {
		return err
	}
	return rfs.Remove(ctx, probe)
}

// leaseOutcome is one manager's answer to a lock attempt.
type leaseOutcome struct {
	acquired bool
	holder   *LockInfo  // the live lease found there, when not acquired
	tookOver []LockInfo // expired leases removed on the way
}

// acquireOn tries to create our lease on one manager, taking over an
// expired one.
func (m *Managers) acquireOn(ctx context.Context, rfs RemoteFS, info LockInfo, data []byte) (leaseOutcome, error) {
	var out leaseOutcome
	madeDir := false
	for attempt := 0; attempt < maxLeaseAttempts; attempt++ {
		err := rfs.CreateExclusive(ctx, m.lockPath(), data, 0o600)
		if err == nil {
			out.acquired = true
			return out, nil
		}
		if errors.Is(err, fs.ErrNotExist) && !madeDir {
			// A fresh manager: no state directory yet.
			madeDir = true
			if err := m.mkdir(ctx, rfs); err != nil {
				return out, fmt.Errorf("create %s: %w", m.Dir, err)
			}
			continue
		}
		if !errors.Is(err, fs.ErrExist) {
			return out, err
		}
		raw, cur, err := m.readLease(ctx, rfs)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return out, err
		}
		if cur.ID == info.ID {
			// Ours, from an earlier attempt with the same ID.
			if !bytes.Equal(raw, data) {
				if err := rfs.WriteFileAtomic(ctx, m.lockPath(), bytes.NewReader(data), 0o600); err != nil {
					return out, err
				}
			}
			out.acquired = true
			return out, nil
		}
		out.holder = cur
		if !m.takeable(cur) {
			return out, nil
		}
		removed, err := m.removeLease(ctx, rfs, func(got []byte) bool { return bytes.Equal(got, raw) })
		if err != nil {
			return out, err
		}
		if removed {
			out.tookOver = append(out.tookOver, *cur)
		}
	}
	if out.holder != nil {
		return out, nil // it kept changing: count it as held
	}
	return out, errors.New("lease kept changing")
}

// where says where a lease is, for messages.
func (m *Managers) where(hosts []string) string {
	return m.lockPath() + " on " + strings.Join(hosts, ", ")
}

// Lock takes the lease on a majority of the managers. If another run holds
// it, Lock returns a *LockHeldError naming it; if too few managers are
// reachable, a *QuorumError. Leases taken on the way are given back.
func (m *Managers) Lock(ctx context.Context, info LockInfo) (Lock, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	ttl := m.ttl()
	if info.ID == "" {
		info.ID = randomHex(8)
	}
	now := m.now()
	info.Created = now
	info.Expires = now.Add(ttl)
	data, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	try := func(ctx context.Context, host string, rfs RemoteFS) (leaseOutcome, error) {
		return m.acquireOn(ctx, rfs, info, data)
	}
	// The first manager alone, then the others: runs that start together
	// meet on the first manager and only one goes on.
	// A first manager that does not answer soon is not waited for: the
	// others are asked without it.
	res := fanoutWithin(ctx, m, m.Hosts[:1], 0, min(m.opTimeout(), firstManagerPatience, ttl/10), try)
	need := m.quorum()
	if r := res[0]; r.Err == nil {
		if !r.Val.acquired && r.Val.holder != nil {
			return nil, &LockHeldError{Holder: *r.Val.holder, Where: m.where(m.Hosts[:1])}
		}
		need--
	}
	res = append(res, fanout(ctx, m, m.Hosts[1:], need, try)...)

	held := map[string]bool{}
	var failed []HostFailure
	var holders []LockInfo
	holderHosts := map[string][]string{}
	for _, r := range res {
		switch {
		case r.Err != nil:
			failed = append(failed, HostFailure{r.Host, r.Err})
		case r.Val.acquired:
			held[r.Host] = true
		case r.Val.holder != nil:
			key := r.Val.holder.ID + "\x00" + r.Val.holder.Owner
			if _, ok := holderHosts[key]; !ok {
				holders = append(holders, *r.Val.holder)
			}
			holderHosts[key] = append(holderHosts[key], r.Host)
		}
	}
	if len(held) >= m.quorum() {
		if m.OnTakeover != nil {
			seen := map[string]bool{}
			for _, r := range res {
				for _, old := range r.Val.tookOver {
					key := old.ID + "\x00" + old.Owner
					if !seen[key] {
						seen[key] = true
						m.OnTakeover(old)
					}
				}
			}
		}
		k := &managersLock{m: m, ttl: ttl, info: info, held: held,
			stop: make(chan struct{}), lost: make(chan struct{}), done: make(chan struct{})}
		go k.renew()
		return k, nil
	}

	// No majority: give back what we took.
	if len(held) > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ttl)
		fanout(rctx, m, hostsIn(m.Hosts, held), 0, func(ctx context.Context, _ string, rfs RemoteFS) (bool, error) {
			return m.removeLease(ctx, rfs, isLease(info.ID))
		})
		cancel()
	}
	if reachable := len(res) - len(failed); reachable < m.quorum() {
		return nil, &QuorumError{Op: "lock", OK: reachable, Total: len(m.Hosts), Need: m.quorum(), Failed: failed}
	}
	// The holder found on the most managers.
	sort.SliceStable(holders, func(i, j int) bool {
		return len(holderHosts[holders[i].ID+"\x00"+holders[i].Owner]) > len(holderHosts[holders[j].ID+"\x00"+holders[j].Owner])
	})
	h := holders[0]
	return nil, &LockHeldError{Holder: h, Where: m.where(holderHosts[h.ID+"\x00"+h.Owner])}
}

// isLease approves of the lease with the given ID.
func isLease(id string) func(raw []byte) bool {
	return func(raw []byte) bool {
		info, ok := parseLease(raw)
		return ok && info.ID == id
	}
}

// hostsIn returns the hosts in set, in the order of hosts.
func hostsIn(hosts []string, set map[string]bool) []string {
	var out []string
	for _, h := range hosts {
		if set[h] {
			out = append(out, h)
		}
	}
	return out
}

// LockStatus reports the lease found on the most managers, expired or not,
// or nil when there is none. It needs a majority of answers.
func (m *Managers) LockStatus(ctx context.Context) (*LockInfo, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	res := fanout(ctx, m, m.Hosts, m.quorum(), func(ctx context.Context, _ string, rfs RemoteFS) (*LockInfo, error) {
		raw, err := rfs.ReadFile(ctx, m.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if info, ok := parseLease(raw); ok {
			return info, nil
		}
		return &LockInfo{Owner: "unknown (unreadable lease file)"}, nil
	})
	var failed []HostFailure
	var best *LockInfo
	count := map[string]int{}
	for _, r := range res {
		if r.Err != nil {
			failed = append(failed, HostFailure{r.Host, r.Err})
			continue
		}
		if r.Val == nil {
			continue
		}
		key := r.Val.ID + "\x00" + r.Val.Owner
		count[key]++
		if best == nil || count[key] > count[best.ID+"\x00"+best.Owner] {
			best = r.Val
		}
	}
	if ok := len(res) - len(failed); ok < m.quorum() {
		return nil, &QuorumError{Op: "lock status", OK: ok, Total: len(m.Hosts), Need: m.quorum(), Failed: failed}
	}
	return best, nil
}

// ForceUnlock removes the lease from every reachable manager, whoever holds
// it. It fails if fewer than a majority could be reached.
func (m *Managers) ForceUnlock(ctx context.Context) error {
	if err := m.check(); err != nil {
		return err
	}
	res := fanout(ctx, m, m.Hosts, m.quorum(), func(ctx context.Context, _ string, rfs RemoteFS) (struct{}, error) {
		err := rfs.Remove(ctx, m.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
		return struct{}{}, err
	})
	var failed []HostFailure
	for _, r := range res {
		if r.Err != nil {
			failed = append(failed, HostFailure{r.Host, r.Err})
		}
	}
	if ok := len(res) - len(failed); ok < m.quorum() {
		return &QuorumError{Op: "unlock", OK: ok, Total: len(m.Hosts), Need: m.quorum(), Failed: failed}
	}
	return nil
}

// managersLock is a held lease.
type managersLock struct {
	m   *Managers
	ttl time.Duration

	mu   sync.Mutex
	info LockInfo

	// held are the managers carrying our lease; only the renewal
	// goroutine uses it, and Release once that has ended.
	held map[string]bool

	stop, lost, done chan struct{}
	once             sync.Once
	releaseErr       error
}

func (k *managersLock) Info() LockInfo        { k.mu.Lock(); defer k.mu.Unlock(); return k.info }
func (k *managersLock) Lost() <-chan struct{} { return k.lost }

// renew extends the lease every third of the TTL, sooner after a failed
// round, until released or lost.
func (k *managersLock) renew() {
	defer close(k.done)
	interval := k.ttl / 3
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
		}
		ok, lost := k.extend()
		if lost {
			close(k.lost)
			return
		}
		if ok {
			t.Reset(interval)
		} else {
			t.Reset(interval / 4)
		}
	}
}

// errLeaseExpired stops the renewal of a lease that expired before it could
// be renewed.
var errLeaseExpired = errors.New("lease expired before it was renewed")

// extend rewrites our lease with a new expiry on the managers holding it.
// ok: a majority was renewed. lost: the lease expired, or too many
// managers carry another lease (or none) for a majority to remain ours.
func (k *managersLock) extend() (ok, lost bool) {
	m := k.m
	k.mu.Lock()
	cur := k.info
	k.mu.Unlock()
	// A lease that expires before a renewal could land may already have
	// been judged expired and taken over: give it up instead.
	margin := k.ttl / 10
	now := m.now()
	if !now.Add(margin).Before(cur.Expires) {
		return false, true
	}
	next := cur
	next.Expires = now.Add(k.ttl)
	data, err := json.Marshal(next)
	if err != nil {
		return false, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.ttl)
	defer cancel()
	res := fanout(ctx, m, hostsIn(m.Hosts, k.held), m.quorum(), func(ctx context.Context, _ string, rfs RemoteFS) (bool, error) {
		raw, err := rfs.ReadFile(ctx, m.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil // removed: force-unlocked or taken over
		}
		if err != nil {
			return false, err
		}
		info, ok := parseLease(raw)
		if !ok {
			return false, errors.New("lease unreadable") // maybe being put back: try again
		}
		if info.ID != cur.ID {
			return true, nil
		}
		if !m.now().Add(margin).Before(cur.Expires) {
			return false, errLeaseExpired
		}
		return false, rfs.WriteFileAtomic(ctx, m.lockPath(), bytes.NewReader(data), 0o600)
	})
	renewed := 0
	for _, r := range res {
		switch {
		case r.Val:
			delete(k.held, r.Host)
		case errors.Is(r.Err, errLeaseExpired):
			return false, true
		case r.Err == nil:
			renewed++
		}
	}
	if len(k.held) < m.quorum() {
		return false, true
	}
	if renewed < m.quorum() {
		return false, false
	}
	k.mu.Lock()
	k.info = next
	k.mu.Unlock()
	return true, false
}

// Release stops the renewal and removes our lease from every manager that
// still carries it.
func (k *managersLock) Release(ctx context.Context) error {
	k.once.Do(func() {
		close(k.stop)
		<-k.done
		m := k.m
		info := k.Info()
		res := fanout(ctx, m, m.Hosts, m.quorum(), func(ctx context.Context, _ string, rfs RemoteFS) (bool, error) {
			return m.removeLease(ctx, rfs, isLease(info.ID))
		})
		var msgs []string
		for _, r := range res {
			if r.Err != nil && k.held[r.Host] {
				msgs = append(msgs, r.Host+": "+hostReason(r.Host, r.Err))
			}
		}
		if len(msgs) > 0 {
			k.releaseErr = fmt.Errorf("release state lease: %s (it expires by itself at %s)",
				strings.Join(msgs, "; "), info.Expires.Format(time.RFC3339))
		}
	})
	return k.releaseErr
}

// Copy reads the state from one store and writes it unchanged, serial
// included, to another: `drover state migrate`. If the target can be read
// and already holds a state, it must be of the same lineage and an older
// serial (the managers backend's Write checks this too). The caller should
// hold the locks of both stores.
func Copy(ctx context.Context, from Reader, to Writer) (*State, error) {
	s, err := from.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the state to copy: %w", err)
	}
	if r, ok := to.(Reader); ok {
		cur, err := r.Read(ctx)
		switch {
		case errors.Is(err, ErrNoState):
		case err != nil:
			return nil, fmt.Errorf("read the target's state: %w", err)
		case cur.Lineage != s.Lineage:
			return nil, fmt.Errorf("%w: the target already holds another state (lineage %s, serial %d); refusing to replace it with lineage %s",
				ErrLineageMismatch, cur.Lineage, cur.Serial, s.Lineage)
		case cur.Serial >= s.Serial:
			return nil, fmt.Errorf("%w: the target already holds serial %d of this state, the source only serial %d; nothing to copy",
				ErrStaleWrite, cur.Serial, s.Serial)
		}
	}
	if err := to.Write(ctx, s); err != nil {
		return nil, fmt.Errorf("write the copied state: %w", err)
	}
	return s, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
