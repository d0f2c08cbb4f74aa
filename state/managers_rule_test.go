package state

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"
)

// putState puts a version on some managers, as a write that reached only
// them would.
func putState(t *testing.T, c *fakeCluster, s *State, hosts ...string) {
	t.Helper()
	data, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		c.host(h).put(path.Join(testDir, managersStateFile), data)
	}
}

// child is a version built on parent, as Write would record it.
func child(t *testing.T, parent *State, note string) *State {
	t.Helper()
	raw, err := Marshal(parent)
	if err != nil {
		t.Fatal(err)
	}
	s := stateAt(parent.Lineage, parent.Serial+1, note)
	s.Ancestors = ancestorsFor(&stateCopy{raw: raw, st: parent})
	return s
}

func setDown(c *fakeCluster, err error, hosts ...string) {
	for _, h := range hosts {
		c.host(h).setDown(err)
	}
}

// The case: write A of serial 6 reaches m1 and m2 and fails; run B
// (m1, m2 down) commits serial 6 on m3-m5; run C (m4, m5 down) must not
// build on A.
func TestManagersFailedWriteDoesNotOutvoteCommitted(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("m1", "m2", "m3", "m4", "m5")
	five := stateAt("lin", 5, "five")
	putState(t, c, five, c.names...)
	a := child(t, five, "A")
	putState(t, c, a, "m1", "m2")

	setDown(c, errRefused, "m1", "m2")
	b := c.managers(nil)
	s := mustRead(t, b)
	if s.Serial != 5 {
		t.Fatalf("B read serial %d", s.Serial)
	}
	s.Serial++
	s.AddRun(Run{Serial: 6, Command: "B"})
	mustWrite(t, b, s)

	setDown(c, nil, "m1", "m2")
	setDown(c, errRefused, "m4", "m5")
	cm := c.managers(nil)
	_, err := cm.Read(ctx)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, ErrStateConflict) {
		t.Fatalf("C read: %v", err)
	}
	if got := strings.Join(conflict.Unreachable, ","); got != "m4,m5" || len(conflict.Copies) != 2 ||
		strings.Join(conflict.Copies[0].Hosts, ",") != "m1,m2" || strings.Join(conflict.Copies[1].Hosts, ",") != "m3" {
		t.Errorf("conflict %+v", conflict)
	}
	for _, want := range []string{"m4, m5 did not answer", "drover state push --force", "ssh m1 cat /var/lib/drover/lab/state.json"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message lacks %q: %v", want, err)
		}
	}
	// Nor may C write on top of A.
	a7 := child(t, a, "C on A")
	if err := cm.Write(ctx, a7); !errors.Is(err, ErrStaleWrite) || !errors.Is(err, ErrStateConflict) {
		t.Fatalf("C write on A: %v", err)
	}

	// With every manager back, B is current and the next write repairs
	// m1 and m2.
	setDown(c, nil, "m4", "m5")
	got := mustRead(t, cm)
	if got.Serial != 6 || got.History[len(got.History)-1].Command != "B" {
		t.Fatalf("read %d %+v", got.Serial, got.History)
	}
	got.Serial++
	mustWrite(t, cm, got)
	for _, h := range c.names {
		if n := c.serialOn(t, h, managersStateFile); n != 7 {
			t.Errorf("%s: serial %d", h, n)
		}
	}
}

// A failed write of a higher serial, left on a manager that was down while
// a lower serial was committed elsewhere, must not bury the committed one.
func TestManagersStrayHigherSerialDoesNotBuryCommitted(t *testing.T) {
	c := newFakeCluster("h1", "h2", "h3")
	four := stateAt("lin", 4, "four")
	putState(t, c, four, c.names...)
	stray5 := child(t, four, "stray 5")
	stray6 := child(t, stray5, "stray 6")
	putState(t, c, stray6, "h3")

	setDown(c, errRefused, "h3")
	m := c.managers(nil)
	s := mustRead(t, m)
	s.Serial++
	s.AddRun(Run{Serial: 5, Command: "committed 5"})
	mustWrite(t, m, s)

	setDown(c, nil, "h3")
	got := mustRead(t, c.managers(nil))
	if got.Serial != 5 || got.History[len(got.History)-1].Command != "committed 5" {
		t.Fatalf("read serial %d %+v: the stray serial 6 won", got.Serial, got.History)
	}
	// h1 down: h2 holds the committed 5, h3 the stray 6; which one is
	// committed cannot be told.
	setDown(c, errRefused, "h1")
	if _, err := c.managers(nil).Read(context.Background()); !errors.Is(err, ErrStateConflict) {
		t.Fatalf("read with h1 down: %v", err)
	}
	// The next write from the full view replaces the stray copy, although
	// its serial is higher.
	setDown(c, nil, "h1")
	w := c.managers(nil)
	next := mustRead(t, w)
	next.Serial++
	mustWrite(t, w, next)
	for _, h := range c.names {
		if n := c.serialOn(t, h, managersStateFile); n != 6 {
			t.Errorf("%s: serial %d", h, n)
		}
	}
	setDown(c, errRefused, "h1")
	if got := mustRead(t, c.managers(nil)); got.Serial != 6 {
		t.Errorf("serial %d", got.Serial)
	}
}

func TestManagersNoStateOnlyWhenEveryManagerAnswered(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	putState(t, c, stateAt("lin", 3, "three"), "h1") // h2, h3 newly added
	c.host("h1").setDown(errRefused)
	m := c.managers(nil)
	_, err := m.Read(ctx)
	var none *NoStateError
	if !errors.As(err, &none) || errors.Is(err, ErrNoState) || len(none.Unreachable) != 1 || none.Unreachable[0].Host != "h1" {
		t.Fatalf("read with the holder down: %v", err)
	}
	if !strings.Contains(err.Error(), "h1 (connection refused) could not be asked") {
		t.Errorf("message: %v", err)
	}
	c.host("h1").setDown(nil)
	if s := mustRead(t, m); s.Serial != 3 {
		t.Fatalf("serial %d", s.Serial)
	}
	fresh := newFakeCluster("h1", "h2", "h3")
	_, err = fresh.managers(nil).Read(ctx)
	if !errors.Is(err, ErrNoState) || !errors.As(err, &none) || len(none.Unreachable) != 0 {
		t.Fatalf("fresh cluster: %v", err)
	}
}

func TestManagersWriteRefusesStaleBase(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	mustWrite(t, c.managers(nil), stateAt("lin", 1, "one"))
	a, b := c.managers(nil), c.managers(nil)
	sa, sb := mustRead(t, a), mustRead(t, b)
	sa.Serial++
	sa.AddRun(Run{Serial: 2, Command: "a"})
	mustWrite(t, a, sa)
	sb.Serial += 2 // skipping a serial does not get past the check
	sb.AddRun(Run{Serial: 3, Command: "b"})
	if err := b.Write(ctx, sb); !errors.Is(err, ErrStaleWrite) || !strings.Contains(err.Error(), "this run read serial 1") {
		t.Fatalf("write on a stale base: %v", err)
	}
	// a goes on from what it wrote, without reading again.
	sa.Serial++
	mustWrite(t, a, sa)
	// b, having read no state, may not start one over an existing state.
	fresh := newFakeCluster("h1", "h2", "h3")
	b2 := fresh.managers(nil)
	if _, err := b2.Read(ctx); !errors.Is(err, ErrNoState) {
		t.Fatal(err)
	}
	mustWrite(t, fresh.managers(nil), stateAt("lin", 1, "other"))
	if err := b2.Write(ctx, stateAt("lin", 1, "mine")); !errors.Is(err, ErrStaleWrite) {
		t.Fatalf("write over a state that appeared: %v", err)
	}
}

// ForceWrite settles a conflict: it supersedes every copy it found. A plain
// Write after the failed Read is refused.
func TestManagersForcedWriteSettlesConflict(t *testing.T) {
	ctx := context.Background()
	c := newFakeCluster("h1", "h2", "h3")
	base := stateAt("lin", 4, "four")
	putState(t, c, child(t, base, "x"), "h1")
	putState(t, c, child(t, base, "y"), "h2")
	c.host("h3").setDown(errRefused)
	m := c.managers(nil)
	_, err := m.Read(ctx)
	var conflict *ConflictError
	if !errors.As(err, &conflict) {
		t.Fatalf("read: %v", err)
	}
	fixed := stateAt("lin", conflict.Serial+1, "chosen by hand")
	if err := m.Write(ctx, fixed); !errors.Is(err, ErrStaleWrite) {
		t.Fatalf("plain write after a failed read: %v", err)
	}
	if err := m.ForceWrite(ctx, fixed); err != nil {
		t.Fatal(err)
	}
	c.host("h3").setDown(nil)
	c.host("h1").setDown(errRefused)
	if got := mustRead(t, c.managers(nil)); got.History[0].Command != "chosen by hand" {
		t.Fatalf("read %+v", got.History)
	}
}
