package state

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover-sh/drover/cluster"
)

func TestLocalReadWrite(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "sub", "s.json")
	st := &Local{Path: p}
	if _, err := st.Read(ctx); !errors.Is(err, ErrNoState) {
		t.Fatalf("read of missing file: %v", err)
	}
	s := New("lab")
	s.Serial = 1
	svc := &cluster.Service{Stack: "demo", Name: "web", Generation: 1, Container: cluster.ContainerSpec{Image: "a:1"}}
	s.Stacks["demo"] = &Stack{Name: "demo", Services: map[string]*Service{"web": {Current: svc}}}
	if err := st.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Serial = 2
	if err := st.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 2 || got.Lineage != s.Lineage || got.Stacks["demo"].Services["web"].Current.Container.Image != "a:1" {
		t.Fatalf("read back %+v", got)
	}
	if err := got.Validate("lab"); err != nil {
		t.Fatal(err)
	}
	backup, err := (&Local{Path: p + ".backup"}).Read(ctx)
	if err != nil || backup.Serial != 1 {
		t.Fatalf("backup: %v serial %v", err, backup)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".*tmp*"))
	if len(left) != 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestValidate(t *testing.T) {
	s := New("a")
	s.Format = Format + 1
	if err := s.Validate("a"); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("newer format: %v", err)
	}
	s = New("a")
	if err := s.Validate("b"); err == nil || !strings.Contains(err.Error(), `cluster "a"`) {
		t.Errorf("cluster mismatch: %v", err)
	}
}

func TestCorruptStateNamesBackup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(p, []byte("{not json"), 0o600)
	_, err := (&Local{Path: p}).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), ".backup") {
		t.Fatalf("corrupt read: %v", err)
	}
}

func TestLocalLock(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.json")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := &Local{Path: p, TTL: time.Minute, Now: clock}
	lk, err := a.Lock(ctx, LockInfo{Owner: "alice@lap", PID: 1, Command: "stack deploy"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Lock(ctx, LockInfo{Owner: "bob@ci"})
	var held *LockHeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrLockHeld) || held.Holder.Owner != "alice@lap" {
		t.Fatalf("second lock: %v", err)
	}
	if !strings.Contains(err.Error(), "alice@lap") || !strings.Contains(err.Error(), "stack deploy") {
		t.Errorf("message does not name the holder: %v", err)
	}
	info, _ := a.LockStatus(ctx)
	if info == nil || info.Owner != "alice@lap" {
		t.Fatalf("status %+v", info)
	}
	if err := lk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := a.LockStatus(ctx); info != nil {
		t.Fatalf("lock still there after release: %+v", info)
	}
	lk2, err := a.Lock(ctx, LockInfo{Owner: "bob@ci"})
	if err != nil {
		t.Fatal(err)
	}
	defer lk2.Release(ctx)

	// An expired lock is taken over, and the takeover is reported.
	now = now.Add(2 * time.Minute)
	var took []LockInfo
	c := &Local{Path: p, TTL: time.Minute, Now: clock, OnTakeover: func(o LockInfo) { took = append(took, o) }}
	lk3, err := c.Lock(ctx, LockInfo{Owner: "carol@cron"})
	if err != nil {
		t.Fatalf("takeover: %v", err)
	}
	if len(took) != 1 || took[0].Owner != "bob@ci" {
		t.Fatalf("takeover report %+v", took)
	}
	// The old holder's release must not remove the new holder's lock.
	lk2.Release(ctx)
	if info, _ := c.LockStatus(ctx); info == nil || info.Owner != "carol@cron" {
		t.Fatalf("after stale release: %+v", info)
	}
	lk3.Release(ctx)
}

func TestLockRenewAndLost(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.json")
	a := &Local{Path: p, TTL: 150 * time.Millisecond}
	lk, err := a.Lock(ctx, LockInfo{Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // several TTLs: renewal must keep it
	if _, err := a.Lock(ctx, LockInfo{Owner: "b"}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("lock expired despite renewal: %v", err)
	}
	a.ForceUnlock(ctx)
	select {
	case <-lk.Lost():
	case <-time.After(time.Second):
		t.Fatal("holder not told its lock was lost")
	}
	lk.Release(ctx)
}

func TestLockContention(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.json")
	var mu sync.Mutex
	inside, maxInside := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := &Local{Path: p, TTL: time.Minute}
			lk, err := LockWithRetry(ctx, st, LockInfo{Owner: "w"}, 10*time.Second, 2*time.Millisecond)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside > maxInside {
				maxInside = inside
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			lk.Release(ctx)
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Fatalf("%d runs held the lock at once", maxInside)
	}
}

func TestPushKeepsGenerations(t *testing.T) {
	var sv Service
	for g := 1; g <= MaxGenerations+5; g++ {
		sv.Push(&cluster.Service{Name: "web", Generation: g}, GenerationMeta{Generation: g})
	}
	if sv.Current.Generation != MaxGenerations+5 || len(sv.Previous) != MaxGenerations || sv.Previous[0].Spec.Generation != MaxGenerations+4 {
		t.Fatalf("current %d, %d previous, newest previous %d", sv.Current.Generation, len(sv.Previous), sv.Previous[0].Spec.Generation)
	}
	if sv.Previous[0].Meta.Result != "superseded" {
		t.Errorf("result %q", sv.Previous[0].Meta.Result)
	}
}

func TestLockOfDeadProcessIsTakenOver(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.json")
	// A pid that cannot exist (above pid_max) stands for a killed run.
	os.WriteFile(p+".lock", []byte(`{"id":"x","owner":"a@m","machine":"m","pid":99999999,"expires":"2999-01-01T00:00:00Z"}`), 0o600)
	other := &Local{Path: p, Machine: "elsewhere"}
	if _, err := other.Lock(ctx, LockInfo{Owner: "b"}); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("another machine must not judge the pid: %v", err)
	}
	var took []LockInfo
	same := &Local{Path: p, Machine: "m", OnTakeover: func(o LockInfo) { took = append(took, o) }}
	lk, err := same.Lock(ctx, LockInfo{Owner: "c", Machine: "m", PID: os.Getpid()})
	if err != nil {
		t.Fatalf("stale lock of a dead process not taken over: %v", err)
	}
	defer lk.Release(ctx)
	if len(took) != 1 || took[0].PID != 99999999 {
		t.Errorf("takeover not reported: %+v", took)
	}
	// A live holder on this machine keeps its lock.
	if _, err := same.Lock(ctx, LockInfo{Owner: "d"}); !errors.Is(err, ErrLockHeld) {
		t.Errorf("live holder lost its lock: %v", err)
	}
}

func TestRollbackTwiceGoesBackTwo(t *testing.T) {
	var sv Service
	img := func(g int) string { return sv.Current.Container.Image }
	for g, image := range []string{"app:v1", "app:v2", "app:v2b"} {
		sv.Push(&cluster.Service{Name: "api", Generation: g + 1, Container: cluster.ContainerSpec{Image: image}}, GenerationMeta{Generation: g + 1})
	}
	if err := sv.RollbackTo(0, "rolled back"); err != nil {
		t.Fatal(err)
	}
	if sv.Current.Generation != 2 || img(0) != "app:v2" {
		t.Fatalf("first rollback: gen %d %s", sv.Current.Generation, img(0))
	}
	if err := sv.RollbackTo(0, "rolled back"); err != nil {
		t.Fatal(err)
	}
	if sv.Current.Generation != 1 || img(0) != "app:v1" {
		t.Fatalf("second rollback: gen %d %s, want 1 app:v1", sv.Current.Generation, img(0))
	}
	if err := sv.RollbackTo(0, "rolled back"); err == nil {
		t.Fatal("rollback past the first generation must fail")
	}
	if n := sv.NextGeneration(); n != 4 {
		t.Errorf("next generation %d, want 4 (numbers are never reused)", n)
	}
	if err := sv.RollbackTo(3, "rolled back"); err != nil || sv.Current.Container.Image != "app:v2b" {
		t.Errorf("--to 3: %v %s", err, sv.Current.Container.Image)
	}
	// A new generation after a rollback is rolled back to its parent, not
	// to the generation that was rolled back before.
	sv.RollbackTo(1, "rolled back")
	sv.Push(&cluster.Service{Name: "api", Generation: sv.NextGeneration(), Container: cluster.ContainerSpec{Image: "app:v4"}}, GenerationMeta{Generation: 4})
	if err := sv.RollbackTo(0, "rolled back"); err != nil || sv.Current.Container.Image != "app:v1" {
		t.Errorf("rollback of v4 (made on top of v1): %v %s", err, sv.Current.Container.Image)
	}
	seen := map[int]bool{sv.Current.Generation: true}
	for _, g := range sv.Previous {
		if seen[g.Spec.Generation] {
			t.Errorf("generation %d listed twice", g.Spec.Generation)
		}
		seen[g.Spec.Generation] = true
	}
}

// TestLocalWriteRefusesGoingBack: like the managers backend, the local one
// refuses an older serial, the same serial with other content, and another
// lineage; a retried identical write succeeds.
func TestLocalWriteRefusesGoingBack(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "s.json")
	st := &Local{Path: p}
	s := New("lab")
	s.Serial = 3
	if err := st.Write(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, s); err != nil {
		t.Errorf("the same document again: %v", err)
	}
	older := *s
	older.Serial = 2
	if err := st.Write(ctx, &older); !errors.Is(err, ErrStaleWrite) {
		t.Errorf("older serial: %v", err)
	}
	same := *s
	same.Cluster = "changed"
	if err := st.Write(ctx, &same); !errors.Is(err, ErrStaleWrite) {
		t.Errorf("same serial, other content: %v", err)
	}
	other := New("lab")
	other.Serial = 10
	if err := st.Write(ctx, other); !errors.Is(err, ErrLineageMismatch) {
		t.Errorf("other lineage: %v", err)
	}
	got, err := st.Read(ctx)
	if err != nil || got.Serial != 3 || got.Lineage != s.Lineage || got.Cluster != "lab" {
		t.Fatalf("after refused writes: %v %+v", err, got)
	}
	// A damaged file is replaced and not kept as the backup.
	os.WriteFile(p, []byte("{damaged"), 0o600)
	s.Serial = 4
	if err := st.Write(ctx, s); err != nil {
		t.Fatalf("over a damaged file: %v", err)
	}
	if b, _ := os.ReadFile(p + ".backup"); strings.Contains(string(b), "damaged") {
		t.Error("the damaged file replaced the backup")
	}
}

// A process stopped inside a lock operation (it holds the guard) must not
// hang the others: they give up after GuardWait, naming the holder.
func TestLocalGuardHeldIsBounded(t *testing.T) {
	dir := t.TempDir()
	l := &Local{Path: filepath.Join(dir, "s.json"), GuardWait: 300 * time.Millisecond}
	lk, err := l.Lock(context.Background(), LockInfo{Owner: "a@x", PID: os.Getpid(), Command: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release(context.Background())
	g, err := os.OpenFile(l.Path+".lock.guard", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := syscall.Flock(int(g.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	other := &Local{Path: l.Path, GuardWait: 300 * time.Millisecond}
	start := time.Now()
	_, err = other.Lock(context.Background(), LockInfo{Owner: "b@y", PID: 1, Command: "reconcile"})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Lock waited %s for a held guard", took)
	}
	var held *LockHeldError
	if !errors.As(err, &held) || held.Holder.Owner != "a@x" {
		t.Errorf("err = %v, want the lock held by a@x", err)
	}
	if _, err := other.LockStatus(context.Background()); err == nil || !strings.Contains(err.Error(), "held by another process") {
		t.Errorf("LockStatus with the guard held: %v", err)
	}
}
