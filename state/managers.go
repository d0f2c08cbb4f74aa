package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
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

func (m *Managers) index(host string) int {
	for i, h := range m.Hosts {
		if h == host {
			return i
		}
	}
	return len(m.Hosts)
}

// where says where a lease is, for messages.
func (m *Managers) where(hosts []string) string {
	return m.lockPath() + " on " + strings.Join(hosts, ", ")
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

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
