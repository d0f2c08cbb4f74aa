package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stateAt is a state of lineage lin at serial n, with one history entry
// so that copies of one serial can differ.
func stateAt(lin string, n int64, note string) *State {
	s := New("lab")
	s.Lineage = lin
	s.Serial = n
	s.AddRun(Run{Serial: n, Command: note})
	return s
}

func mustWrite(t *testing.T, m *Managers, s *State) {
	t.Helper()
	if err := m.Write(context.Background(), s); err != nil {
		t.Fatalf("write serial %d: %v", s.Serial, err)
	}
}

func mustRead(t *testing.T, m *Managers) *State {
	t.Helper()
	s, err := m.Read(context.Background())
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return s
}

func mustLock(t *testing.T, m *Managers, owner string) Lock {
	t.Helper()
	lk, err := m.Lock(context.Background(), LockInfo{Owner: owner, Machine: "lap", PID: 42, Command: "stack deploy"})
	if err != nil {
		t.Fatalf("lock as %s: %v", owner, err)
	}
	return lk
}

func putLease(t *testing.T, h *fakeHost, info LockInfo) {
	t.Helper()
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	h.put(path.Join(testDir, managersLockFile), data)
}

func TestManagersFreshCluster(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	if _, err := m.Read(ctx); !errors.Is(err, ErrNoState) {
		t.Fatalf("read of a fresh cluster: %v", err)
	}
	if info, err := m.LockStatus(ctx); err != nil || info != nil {
		t.Fatalf("lock status of a fresh cluster: %+v, %v", info, err)
	}
	if got, want := m.Describe(), "/var/lib/drover/lab/state.json on managers h1, h2, h3"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	// The state directory does not exist yet: Lock creates it.
	lk := mustLock(t, m, "alice@lap")
	c.assertClean(t, true)
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	c.assertClean(t, false)
}

func TestManagersConfigErrors(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1")
	for _, m := range []*Managers{
		{Open: c.open, Dir: testDir},
		{Hosts: []string{"h1", "h1"}, Open: c.open, Dir: testDir},
		{Hosts: []string{"h1"}, Open: c.open},
		{Hosts: []string{"h1"}, Dir: testDir},
	} {
		if _, err := m.Read(ctx); err == nil || !strings.Contains(err.Error(), "state backend managers") {
			t.Errorf("%+v: %v", m, err)
		}
	}
}

func TestManagersWriteThenReadElsewhere(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	lk := mustLock(t, m, "alice@lap")
	mustWrite(t, m, stateAt("lin", 1, "first"))
	mustWrite(t, m, stateAt("lin", 2, "second"))
	lk.Release(ctx)

	got := mustRead(t, c.managers(nil))
	if got.Lineage != "lin" || got.Serial != 2 || len(got.History) != 1 || got.History[0].Command != "second" {
		t.Fatalf("read back %+v", got)
	}
	for _, h := range c.names {
		if s := c.serialOn(t, h, managersStateFile); s != 2 {
			t.Errorf("%s: serial %d", h, s)
		}
		if s := c.serialOn(t, h, managersBackupFile); s != 1 {
			t.Errorf("%s: backup serial %d", h, s)
		}
		if f := c.host(h).files[path.Join(testDir, managersStateFile)]; f.mode != 0o600 {
			t.Errorf("%s: mode %v", h, f.mode)
		}
	}
	c.assertClean(t, false)
}

func TestManagersOneDownLagsAndIsRepaired(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	var lag lagRecorder
	m := c.managers(nil)
	m.OnLagging = lag.record
	mustWrite(t, m, stateAt("lin", 1, "one"))
	if got := lag.take(); got != "" {
		t.Fatalf("lagging with all up: %s", got)
	}

	// h3 down: everything works, h3 lags.
	c.host("h3").setDown(errRefused)
	lk := mustLock(t, m, "alice@lap")
	s := mustRead(t, m)
	if s.Serial != 1 {
		t.Fatalf("serial %d", s.Serial)
	}
	if got := lag.take(); got != "h3=-1" {
		t.Errorf("read: lagging %q", got)
	}
	s.Serial++
	mustWrite(t, m, s)
	if got := lag.take(); got != "h3=-1" {
		t.Errorf("write: lagging %q", got)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatalf("release with one manager down: %v", err)
	}

	// h3 comes back while h1 goes: the majority h2+h3 still yields the
	// highest serial, and the next write repairs h3.
	c.host("h3").setDown(nil)
	c.host("h1").setDown(errTimeout)
	s = mustRead(t, m)
	if s.Serial != 2 {
		t.Fatalf("read with h1 down and h3 lagging: serial %d", s.Serial)
	}
	if got := lag.take(); got != "h1=-1,h3=1" {
		t.Errorf("lagging %q", got)
	}
	s.Serial++
	mustWrite(t, m, s)
	if c.serialOn(t, "h3", managersStateFile) != 3 || c.serialOn(t, "h3", managersBackupFile) != 1 {
		t.Errorf("h3 not repaired: serial %d, backup %d", c.serialOn(t, "h3", managersStateFile), c.serialOn(t, "h3", managersBackupFile))
	}
	lag.take()

	// h1 comes back, lagging; the next run repairs it.
	c.host("h1").setDown(nil)
	s = mustRead(t, m)
	if got := lag.take(); s.Serial != 3 || got != "h1=2" {
		t.Errorf("serial %d, lagging %q", s.Serial, got)
	}
	s.Serial++
	mustWrite(t, m, s)
	for _, h := range c.names {
		if n := c.serialOn(t, h, managersStateFile); n != 4 {
			t.Errorf("%s: serial %d", h, n)
		}
	}
	mustRead(t, m)
	if got := lag.take(); got != "" {
		t.Errorf("still lagging: %q", got)
	}
}

func TestManagersTwoDownRefuse(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	mustWrite(t, m, stateAt("lin", 1, "one"))
	before, _ := c.host("h1").get(path.Join(testDir, managersStateFile))
	c.host("h2").setDown(errRefused)
	c.host("h3").setDown(errTimeout)
	const want = "state needs a majority of managers: 1 of 3 reachable (h2: connection refused; h3: timeout)"

	_, err := m.Lock(ctx, LockInfo{Owner: "alice@lap"})
	if err == nil || err.Error() != want {
		t.Fatalf("lock: %v\nwant: %s", err, want)
	}
	if !errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrLockHeld) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("lock error matches the wrong sentinels: %v", err)
	}
	if l := c.leaseOn(t, "h1"); l != nil {
		t.Errorf("lease left on h1: %+v", l)
	}
	if err := m.Write(ctx, stateAt("lin", 2, "two")); err == nil || err.Error() != want {
		t.Fatalf("write: %v\nwant: %s", err, want)
	}
	if _, err := m.Read(ctx); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("read: %v", err)
	}
	if _, err := m.LockStatus(ctx); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("lock status: %v", err)
	}
	after, _ := c.host("h1").get(path.Join(testDir, managersStateFile))
	if string(before) != string(after) {
		t.Error("h1's state changed")
	}
	c.assertClean(t, false)
	if _, ok := c.host("h1").get(path.Join(testDir, managersBackupFile)); ok {
		t.Error("backup written")
	}
}

func TestManagersPartialWriteFails(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	for _, h := range []string{"h2", "h3"} {
		c.host(h).failWrite = func(string) error { return errors.New("disk full") }
	}
	err := m.Write(ctx, stateAt("lin", 1, "one"))
	const want = "state needs a majority of managers: written to 1 of 3 (h2: disk full; h3: disk full)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("write: %v\nwant: %s", err, want)
	}
}

func TestManagersLineageMismatch(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	mustWrite(t, m, stateAt("lin-a", 3, "a"))
	other, _ := Marshal(stateAt("lin-b", 7, "b"))
	c.host("h3").put(path.Join(testDir, managersStateFile), other)

	_, err := m.Read(ctx)
	if !errors.Is(err, ErrLineageMismatch) {
		t.Fatalf("read: %v", err)
	}
	for _, s := range []string{"lineage lin-a on h1 (serial 3), h2 (serial 3)", "lineage lin-b on h3 (serial 7)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("read error lacks %q: %v", s, err)
		}
	}
	err = m.Write(ctx, stateAt("lin-a", 4, "a"))
	if !errors.Is(err, ErrLineageMismatch) || !strings.Contains(err.Error(), "manager h3") {
		t.Fatalf("write: %v", err)
	}
	if n := c.serialOn(t, "h1", managersStateFile); n != 3 {
		t.Errorf("h1 written despite the mismatch: serial %d", n)
	}
}

func TestManagersStaleWriteRefused(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	mustWrite(t, m, stateAt("lin", 4, "four"))
	five := stateAt("lin", 5, "five")
	mustWrite(t, m, five)
	for _, s := range []*State{stateAt("lin", 5, "another five"), stateAt("lin", 4, "four again")} {
		if err := m.Write(ctx, s); !errors.Is(err, ErrStaleWrite) || !strings.Contains(err.Error(), "h1, h2, h3 already hold serial 5") {
			t.Errorf("write of serial %d over 5: %v", s.Serial, err)
		}
	}
	// Writing the same version again is a no-op that keeps the backup.
	mustWrite(t, m, five)
	for _, h := range c.names {
		if n := c.serialOn(t, h, managersBackupFile); n != 4 {
			t.Errorf("%s: backup serial %d", h, n)
		}
	}
}

func TestManagersSameSerialDifferentContent(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	var lag lagRecorder
	m := c.managers(nil)
	m.OnLagging = lag.record
	mustWrite(t, m, stateAt("lin", 5, "majority"))
	minority, _ := Marshal(stateAt("lin", 5, "minority"))
	c.host("h3").put(path.Join(testDir, managersStateFile), minority)

	s := mustRead(t, m)
	if s.History[0].Command != "majority" {
		t.Errorf("picked %q", s.History[0].Command)
	}
	if got := lag.take(); got != "h3=5" {
		t.Errorf("lagging %q", got)
	}
	c.host("h2").setDown(errRefused)
	_, err := m.Read(ctx)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, ErrStateConflict) || conflict.Serial != 5 || len(conflict.Copies) != 2 ||
		strings.Join(conflict.Unreachable, ",") != "h2" {
		t.Fatalf("tie: %v", err)
	}
	for _, want := range []string{"serial 5", " on h1 vs ", " on h3", "h2 did not answer", "drover state push --force"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict message lacks %q: %v", want, err)
		}
	}
}

func TestManagersCorruptCopy(t *testing.T) {
	c := newFakeCluster("h1", "h2", "h3")
	var lag lagRecorder
	m := c.managers(nil)
	m.OnLagging = lag.record
	mustWrite(t, m, stateAt("lin", 1, "one"))
	c.host("h2").put(path.Join(testDir, managersStateFile), []byte("{torn"))
	if s := mustRead(t, m); s.Serial != 1 {
		t.Fatalf("serial %d", s.Serial)
	}
	if got := lag.take(); got != "h2=-1" {
		t.Errorf("lagging %q", got)
	}
	// The next write repairs it without saving the garbage as backup.
	mustWrite(t, m, stateAt("lin", 2, "two"))
	if c.serialOn(t, "h2", managersStateFile) != 2 || c.serialOn(t, "h2", managersBackupFile) != -1 {
		t.Error("h2 not repaired")
	}
	c.host("h1").setDown(errRefused)
	c.host("h2").put(path.Join(testDir, managersStateFile), []byte("{torn"))
	if _, err := m.Read(context.Background()); !errors.Is(err, ErrNoQuorum) || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("a corrupt copy must not count as an answer: %v", err)
	}
}

func TestManagersLockHeldAndRelease(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	a, b := c.managers(nil), c.managers(nil)
	lk := mustLock(t, a, "alice@lap")
	_, err := b.Lock(ctx, LockInfo{Owner: "bob@ci"})
	var held *LockHeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLockHeld) || held.Holder.Owner != "alice@lap" || held.Holder.ID != lk.Info().ID {
		t.Fatalf("second lock: %v", err)
	}
	if !strings.Contains(err.Error(), "alice@lap") || !strings.Contains(err.Error(), "stack deploy") ||
		held.Where != "/var/lib/drover/lab/lock.json on h1" {
		t.Errorf("message: %v (where %q)", err, held.Where)
	}
	// With the first manager down, the others say who holds it.
	c.host("h1").setDown(errRefused)
	_, err = b.Lock(ctx, LockInfo{Owner: "bob@ci"})
	if !errors.As(err, &held) || held.Holder.Owner != "alice@lap" || held.Where != "/var/lib/drover/lab/lock.json on h2, h3" {
		t.Fatalf("second lock with h1 down: %v", err)
	}
	c.host("h1").setDown(nil)
	info, err := b.LockStatus(ctx)
	if err != nil || info == nil || info.Owner != "alice@lap" || info.PID != 42 {
		t.Fatalf("status %+v, %v", info, err)
	}
	for _, h := range c.names {
		if l := c.leaseOn(t, h); l == nil || l.ID != lk.Info().ID {
			t.Errorf("%s: lease %+v", h, l)
		}
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	c.assertClean(t, false)
	if info, err := b.LockStatus(ctx); err != nil || info != nil {
		t.Fatalf("status after release: %+v, %v", info, err)
	}
	lk2 := mustLock(t, b, "bob@ci")
	lk2.Release(ctx)
}

func TestManagersLockFailsOnSplit(t *testing.T) {
	// Another run holds h2 and h3 (it saw h1 down): we get h1 only, give
	// it back and report that run.
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	clock := newTestClock()
	other := LockInfo{ID: "other", Owner: "carol@cron", Expires: clock.Now().Add(time.Minute)}
	putLease(t, c.host("h2"), other)
	putLease(t, c.host("h3"), other)
	_, err := c.managers(clock).Lock(ctx, LockInfo{Owner: "bob@ci"})
	var held *LockHeldError
	if !errors.As(err, &held) || held.Holder.Owner != "carol@cron" || held.Where != "/var/lib/drover/lab/lock.json on h2, h3" {
		t.Fatalf("lock: %v", err)
	}
	if l := c.leaseOn(t, "h1"); l != nil {
		t.Errorf("lease left on h1: %+v", l)
	}
}

func TestManagersTakeoverOfExpiredLease(t *testing.T) {
	for _, rename := range []bool{true, false} {
		t.Run(fmt.Sprintf("rename=%v", rename), func(t *testing.T) {
			ctx := context.Background()
			c := newFakeCluster("h1", "h2", "h3")
			for _, h := range c.hosts {
				h.noRename = !rename
			}
			clock := newTestClock()
			a := c.managers(clock)
			lkA := mustLock(t, a, "alice@lap")
			clock.Add(2 * time.Minute) // alice's run hangs, her lease expires

			var took []LockInfo
			b := c.managers(clock)
			b.OnTakeover = func(old LockInfo) { took = append(took, old) }
			lkB, err := b.Lock(ctx, LockInfo{Owner: "bob@ci"})
			if err != nil {
				t.Fatalf("takeover: %v", err)
			}
			if len(took) != 1 || took[0].Owner != "alice@lap" || took[0].ID != lkA.Info().ID {
				t.Fatalf("takeover reported %+v", took)
			}
			for _, h := range c.names {
				if l := c.leaseOn(t, h); l == nil || l.ID != lkB.Info().ID {
					t.Errorf("%s: lease %+v", h, l)
				}
			}
			c.assertClean(t, true)
			// Alice's late release must not remove Bob's lease.
			lkA.Release(ctx)
			if info, _ := b.LockStatus(ctx); info == nil || info.Owner != "bob@ci" {
				t.Fatalf("after alice's release: %+v", info)
			}
			lkB.Release(ctx)
			c.assertClean(t, false)
		})
	}
}

func TestManagersTakeoverRaceKeepsFreshLease(t *testing.T) {
	// Between our judging alice's lease expired and our renaming it, dave
	// took it over: the tombstone holds dave's fresh lease, which must be
	// put back, and we must report dave as the holder.
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	clock := newTestClock()
	expired := LockInfo{ID: "alice", Owner: "alice@lap", Expires: clock.Now().Add(-time.Second)}
	for _, h := range c.hosts {
		putLease(t, h, expired)
	}
	fresh := LockInfo{ID: "dave", Owner: "dave@ci", Expires: clock.Now().Add(time.Minute)}
	var once sync.Once
	h1 := c.host("h1")
	h1.beforeRename = func(string) { once.Do(func() { putLease(t, h1, fresh) }) }

	b := c.managers(clock)
	b.OnTakeover = func(old LockInfo) { t.Errorf("takeover reported: %+v", old) }
	_, err := b.Lock(ctx, LockInfo{Owner: "bob@ci"})
	var held *LockHeldError
	if !errors.As(err, &held) || held.Holder.ID != "dave" {
		t.Fatalf("lock: %v", err)
	}
	if l := c.leaseOn(t, "h1"); l == nil || l.ID != "dave" {
		t.Fatalf("dave's lease not put back: %+v", l)
	}
	c.assertClean(t, true) // no tombstone left behind
}

func TestManagersLeaseBeingWrittenIsNotTakenOver(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	c.host("h1").slowCreate = 100 * time.Millisecond
	a, b := c.managers(nil), c.managers(nil)
	b.leaseGrace = 300 * time.Millisecond
	type result struct {
		lk  Lock
		err error
	}
	done := make(chan result, 1)
	go func() {
		lk, err := a.Lock(ctx, LockInfo{Owner: "alice@lap"})
		done <- result{lk, err}
	}()
	for {
		if _, ok := c.host("h1").get(path.Join(testDir, managersLockFile)); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	_, err := b.Lock(ctx, LockInfo{Owner: "bob@ci"})
	var held *LockHeldError
	if !errors.As(err, &held) || held.Holder.Owner != "alice@lap" {
		t.Fatalf("bob: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("alice: %v", r.err)
	}
	r.lk.Release(ctx)
}

func TestManagersUnreadableLeaseIsTakenOver(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	for _, h := range c.hosts {
		h.put(path.Join(testDir, managersLockFile), nil) // a run died creating it
	}
	var took []LockInfo
	m := c.managers(nil)
	m.OnTakeover = func(old LockInfo) { took = append(took, old) }
	lk := mustLock(t, m, "bob@ci")
	defer lk.Release(ctx)
	if len(took) != 1 || !strings.Contains(took[0].Owner, "unknown") {
		t.Errorf("takeover reported %+v", took)
	}
}

func TestManagersLeaseOfDeadProcess(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	dead := LockInfo{ID: "x", Owner: "a@m", Machine: "m", PID: 99999999, Expires: time.Now().Add(time.Hour)}
	for _, h := range c.hosts {
		putLease(t, h, dead)
	}
	elsewhere := c.managers(nil)
	elsewhere.Machine = "elsewhere"
	if _, err := elsewhere.Lock(ctx, LockInfo{Owner: "b"}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("another machine must not judge the pid: %v", err)
	}
	same := c.managers(nil)
	same.Machine = "m"
	lk := mustLock(t, same, "c")
	lk.Release(ctx)
}

func TestManagersRenewalKeepsLease(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	a := c.managers(nil)
	a.Now = nil
	a.TTL = 300 * time.Millisecond
	lk := mustLock(t, a, "alice@lap")
	first := lk.Info().Expires
	time.Sleep(800 * time.Millisecond) // several TTLs
	b := c.managers(nil)
	if _, err := b.Lock(ctx, LockInfo{Owner: "bob@ci"}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("lease expired despite renewal: %v", err)
	}
	if !lk.Info().Expires.After(first) {
		t.Errorf("expiry not extended: %v", lk.Info().Expires)
	}
	for _, h := range c.names {
		if l := c.leaseOn(t, h); l == nil || !l.Expires.After(first) {
			t.Errorf("%s: lease %+v not renewed", h, l)
		}
	}
	select {
	case <-lk.Lost():
		t.Fatal("lost")
	default:
	}
	lk.Release(ctx)
	c.assertClean(t, false)
}

func TestManagersLostWhenStolen(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	m.Now = nil
	m.TTL = 300 * time.Millisecond
	thief := LockInfo{ID: "thief", Owner: "mallory", Expires: time.Now().Add(time.Hour)}

	// One manager taken: the majority remains ours.
	lk := mustLock(t, m, "alice@lap")
	putLease(t, c.host("h3"), thief)
	time.Sleep(250 * time.Millisecond)
	select {
	case <-lk.Lost():
		t.Fatal("lost with a majority still held")
	default:
	}
	// A second one: lost.
	putLease(t, c.host("h2"), thief)
	select {
	case <-lk.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("holder not told its lease was lost")
	}
	lk.Release(ctx)
	for _, h := range []string{"h2", "h3"} {
		if l := c.leaseOn(t, h); l == nil || l.ID != "thief" {
			t.Errorf("%s: release removed another run's lease: %+v", h, l)
		}
	}
	if l := c.leaseOn(t, "h1"); l != nil {
		t.Errorf("h1: own lease not released: %+v", l)
	}

	// Force-unlocked: lost.
	if err := m.ForceUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	lk = mustLock(t, m, "alice@lap")
	if err := m.ForceUnlock(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lk.Lost():
	case <-time.After(2 * time.Second):
		t.Fatal("holder not told its lease was force-unlocked")
	}
	lk.Release(ctx)
	c.assertClean(t, false)
}

func TestManagersContention(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	const workers, rounds = 5, 4
	var (
		mu        sync.Mutex
		inside    int
		maxInside int
		serials   []int64
		wg        sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := c.managers(nil)
			m.Now = nil
			m.TTL = time.Second
			for r := range rounds {
				lk, err := LockWithRetry(ctx, m, LockInfo{Owner: fmt.Sprintf("w%d", w)}, 30*time.Second, time.Millisecond)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				maxInside = max(maxInside, inside)
				mu.Unlock()

				s, err := m.Read(ctx)
				if errors.Is(err, ErrNoState) {
					s, err = New("lab"), nil
				}
				if err != nil {
					t.Error(err)
				} else {
					s.Serial++
					s.AddRun(Run{Serial: s.Serial, User: fmt.Sprintf("w%d", w), Command: fmt.Sprintf("round %d", r)})
					if err := m.Write(ctx, s); err != nil {
						t.Error(err)
					}
					mu.Lock()
					serials = append(serials, s.Serial)
					mu.Unlock()
				}
				time.Sleep(time.Millisecond)

				mu.Lock()
				inside--
				mu.Unlock()
				if err := lk.Release(ctx); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Fatalf("%d runs held the lock at once", maxInside)
	}
	if len(serials) != workers*rounds {
		t.Fatalf("%d writes", len(serials))
	}
	for i, s := range serials {
		if s != int64(i+1) {
			t.Fatalf("serials not strictly increasing by one: %v", serials)
		}
	}
	final := mustRead(t, c.managers(nil))
	if final.Serial != workers*rounds || len(final.History) != workers*rounds {
		t.Fatalf("final serial %d, %d runs recorded", final.Serial, len(final.History))
	}
	c.assertClean(t, false)
}

func TestCopyLocalToManagers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local := &Local{Path: filepath.Join(dir, "state.json")}
	if _, err := Copy(ctx, local, newFakeCluster("h1").managers(nil)); !errors.Is(err, ErrNoState) {
		t.Fatalf("copy of nothing: %v", err)
	}
	src := stateAt("lin", 7, "seven")
	if err := local.Write(ctx, src); err != nil {
		t.Fatal(err)
	}
	c := newFakeCluster("h1", "h2", "h3")
	m := c.managers(nil)
	got, err := Copy(ctx, local, m)
	if err != nil || got.Serial != 7 {
		t.Fatalf("copy: %+v, %v", got, err)
	}
	s := mustRead(t, m)
	if s.Lineage != "lin" || s.Serial != 7 || s.History[0].Command != "seven" {
		t.Fatalf("copied %+v", s)
	}
	if _, err := Copy(ctx, local, m); !errors.Is(err, ErrStaleWrite) {
		t.Errorf("second copy: %v", err)
	}
	other := &Local{Path: filepath.Join(dir, "other.json")}
	if err := other.Write(ctx, stateAt("lin-b", 9, "b")); err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, other, m); !errors.Is(err, ErrLineageMismatch) {
		t.Errorf("copy of another lineage: %v", err)
	}
	// And back to a fresh local file.
	back := &Local{Path: filepath.Join(dir, "back.json")}
	if _, err := Copy(ctx, m, back); err != nil {
		t.Fatal(err)
	}
	if s, _ := back.Read(ctx); s == nil || s.Serial != 7 {
		t.Errorf("copied back %+v", s)
	}
	if _, err := os.Stat(back.Path); err != nil {
		t.Error(err)
	}
}
