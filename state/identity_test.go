package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseStatStartTime(t *testing.T) {
	cases := []struct {
		name, stat string
		want       uint64
		ok         bool
	}{
		{"plain", "16102 (cat) R 16099 16099 5132 0 -1 4194304 123 0 0 0 0 0 0 0 20 0 1 0 50181 3133440 379 18446744073709551615", 50181, true},
		{"spaces and parentheses in the name", "7 (a) b (c)) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0", 987654, true},
		{"truncated", "7 (x) S 1 2 3", 0, false},
		{"no name", "7 x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21", 0, false},
		{"not a number", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 soon 0 0", 0, false},
		{"empty", "", 0, false},
	}
	for _, c := range cases {
		got, err := parseStatStartTime(c.stat)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: %d, %v; want %d ok=%v", c.name, got, err, c.want, c.ok)
		}
	}
	// This process's own start time reads and stays the same.
	a, err := ProcessStartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("own start time: %d, %v", a, err)
	}
	if b, _ := ProcessStartTime(os.Getpid()); a != b {
		t.Errorf("start time changed: %d then %d", a, b)
	}
}

// TestHolderGone: only a process with the holder's identity judges its PID;
// a reused PID (alive, other start time) counts as gone; locks without an
// identity are judged by host name as before.
func TestHolderGone(t *testing.T) {
	self := Identity{MachineID: "m1", BootID: "b1", PIDNamespace: "pid:[1]"}
	live := os.Getpid()
	start, err := ProcessStartTime(live)
	if err != nil {
		t.Fatal(err)
	}
	const dead = 99999999 // above pid_max: cannot exist
	lock := func(id Identity, pid int, start uint64) *LockInfo {
		return &LockInfo{ID: "x", Machine: "box", PID: pid, MachineID: id.MachineID, BootID: id.BootID, PIDNamespace: id.PIDNamespace, StartTime: start}
	}
	cases := []struct {
		name string
		info *LockInfo
		want bool
	}{
		{"same identity, dead pid", lock(self, dead, 1), true},
		{"same identity, live pid, same start", lock(self, live, start), false},
		{"same identity, live pid, no start recorded", lock(self, live, 0), false},
		{"same identity, reused pid", lock(self, live, start+1), true},
		{"other machine, same host name, dead pid", lock(Identity{MachineID: "m2", BootID: "b1", PIDNamespace: "pid:[1]"}, dead, 1), false},
		{"other boot", lock(Identity{MachineID: "m1", BootID: "b2", PIDNamespace: "pid:[1]"}, dead, 1), false},
		{"other pid namespace", lock(Identity{MachineID: "m1", BootID: "b1", PIDNamespace: "pid:[2]"}, dead, 1), false},
		{"old lock, same host name, dead pid", &LockInfo{ID: "x", Machine: "box", PID: dead}, true},
		{"old lock, same host name, live pid", &LockInfo{ID: "x", Machine: "box", PID: live}, false},
		{"old lock, other host name, dead pid", &LockInfo{ID: "x", Machine: "other", PID: dead}, false},
		{"no pid", lock(self, 0, 0), false},
		{"nil", nil, false},
	}
	for _, c := range cases {
		if got := self.HolderGone("box", c.info); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestLocalLockIdentity: two stores with the same host name but different
// identities do not take over each other's live lock; the same identity
// takes over a dead holder's lock at once, before it expires.
func TestLocalLockIdentity(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.json")
	me := LocalIdentity()
	other := me
	other.MachineID = "another-machine"
	a := &Local{Path: p, Machine: "box", Self: &me, TTL: time.Hour}
	info := LockInfo{Owner: "a@box", Machine: "box", PID: 99999999}
	me.Stamp(&info)
	lk, err := a.Lock(ctx, info)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release(ctx)
	// The same host name, another machine: the dead-looking PID is not its
	// to judge.
	b := &Local{Path: p, Machine: "box", Self: &other}
	_, err = b.Lock(ctx, LockInfo{Owner: "b@box", Machine: "box"})
	var held *LockHeldError
	if !errors.As(err, &held) || held.Holder.Owner != "a@box" || held.Holder.MachineID != me.MachineID {
		t.Fatalf("other machine with the same host name: %v", err)
	}
	// The holder's own machine sees the PID is gone and takes over.
	var took []LockInfo
	c := &Local{Path: p, Machine: "box", Self: &me, OnTakeover: func(o LockInfo) { took = append(took, o) }}
	lk2, err := c.Lock(ctx, LockInfo{Owner: "c@box", Machine: "box", PID: os.Getpid()})
	if err != nil {
		t.Fatalf("same machine, dead holder: %v", err)
	}
	defer lk2.Release(ctx)
	if len(took) != 1 || took[0].Owner != "a@box" {
		t.Errorf("takeover not reported: %+v", took)
	}
}

// TestLockInfoJSONCompatible: a lock file of an older drover (no identity
// fields) reads, as a lock without identity.
func TestLockInfoJSONCompatible(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	old := `{"id":"3ca673e468717780","owner":"root@vm","machine":"vm","pid":3570,"command":"stack deploy docshop","created":"2026-11-26T16:18:47.06971181Z","expires":"2999-11-26T16:20:47.06971181Z"}`
	os.WriteFile(p+".lock", []byte(old), 0o600)
	got, err := (&Local{Path: p}).LockStatus(context.Background())
	if err != nil || got == nil || got.ID != "3ca673e468717780" || got.PID != 3570 || got.hasIdentity() {
		t.Fatalf("old lock: %v %+v", err, got)
	}
}
