package state

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Local keeps the state in a JSON file. The lock is a file beside it
// (PATH.lock) holding the owner and an expiry; every lock operation runs
// under a short flock on PATH.lock.guard so that two processes never both
// take over an expired lock.
type Local struct {
	Path string
	TTL  time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnTakeover is told when an expired lock is taken over.
	OnTakeover func(old LockInfo)
	// Machine is this machine's host name, for locks written before
	// identities existed (see Identity.HolderGone).
	Machine string
	// Self is this process's identity: a lock held by a process of the
	// same identity that no longer exists is stale and taken over at once,
	// without waiting for it to expire. nil means LocalIdentity().
	Self *Identity
	// GuardWait bounds the wait for the lock file's guard (flock); 0 means
	// DefaultGuardWait.
	GuardWait time.Duration
}

// holderGone reports whether a lock was taken by a process that is known
// to have ended.
func (l *Local) holderGone(info *LockInfo) bool {
	self := l.Self
	if self == nil {
		id := LocalIdentity()
		self = &id
	}
	return self.HolderGone(l.Machine, info)
}

var _ Store = (*Local)(nil)

func (l *Local) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Local) Describe() string { return l.Path }

// Read returns the state, or ErrNoState when the file does not exist.
func (l *Local) Read(ctx context.Context) (*State, error) {
	data, err := os.ReadFile(l.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoState
	}
	if err != nil {
		return nil, err
	}
	s, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("state file %s is not valid JSON: %w (the previous version is in %s.backup)", l.Path, err, l.Path)
	}
	return s, nil
}

// Write replaces the state file atomically, keeping the old one as .backup.
// Like the managers backend it refuses (ErrStaleWrite) to replace the file
// with an older serial, or the same serial with other content, and
// (ErrLineageMismatch) to replace a state of another lineage: a run that
// read the state before another run wrote it must not undo that run. The
// check and the write happen under the lock guard, so two writers cannot
// both pass the check.
func (l *Local) Write(ctx context.Context, s *State) error {
	if s == nil || s.Lineage == "" {
		return errors.New("refusing to write a state without lineage")
	}
	if err := checkSealed(s); err != nil {
		return err
	}
	data, err := Marshal(s)
	if err != nil {
		return err
	}
	return l.guard(func() error {
		old, err := os.ReadFile(l.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return err
		default:
			cur, err := Decode(old)
			if err != nil {
				// A damaged file is replaced but not kept: it would
				// replace a good backup.
				break
			}
			if cur.Lineage != s.Lineage {
				return fmt.Errorf("%w: %s holds a state of lineage %s (serial %d), this one is lineage %s: refusing to replace it; nothing was written",
					ErrLineageMismatch, l.Path, cur.Lineage, cur.Serial, s.Lineage)
			}
			norm, err := Marshal(cur)
			if err != nil {
				return err
			}
			if bytes.Equal(norm, data) {
				return nil // already there (a retried write)
			}
			if cur.Serial >= s.Serial {
				return fmt.Errorf("%w: %s already holds serial %d, refusing to write serial %d over it (another run wrote the state; was the lock held?); nothing was written",
					ErrStaleWrite, l.Path, cur.Serial, s.Serial)
			}
			if err := writeAtomic(l.Path+".backup", old, 0o600); err != nil {
				return fmt.Errorf("keep backup of state: %w", err)
			}
		}
		return writeAtomic(l.Path, data, 0o600)
	})
}

// Marshal renders a state document as the files hold it.
func Marshal(s *State) ([]byte, error) {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// writeAtomic writes data to a temp file in the same folder, fsyncs it,
// renames it over path and fsyncs the folder: a reader sees the old file or
// the new one, never a torn one, even across a crash.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func (l *Local) lockPath() string { return l.Path + ".lock" }

// guard runs fn holding an exclusive flock on PATH.lock.guard.
func (l *Local) guard(fn func() error) error {
	if err := os.MkdirAll(filepath.Dir(l.Path), 0o700); err != nil {
		return err
	}
	g, err := os.OpenFile(l.Path+".lock.guard", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer g.Close()
	// The guard is held for a read and a write of the lock file: a few
	// milliseconds. A holder that is stopped (SIGSTOP, a paused VM) or hung
	// inside it must not hang every other run, so the wait is bounded.
	wait := l.GuardWait
	if wait <= 0 {
		wait = DefaultGuardWait
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(g.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return &GuardBusyError{Path: g.Name(), Waited: wait}
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer syscall.Flock(int(g.Fd()), syscall.LOCK_UN)
	return fn()
}

// DefaultGuardWait bounds the wait for the lock file's guard.
const DefaultGuardWait = 10 * time.Second

// GuardBusyError: another process held the guard of the lock file for
// longer than a lock operation takes.
type GuardBusyError struct {
	Path   string
	Waited time.Duration
}

func (e *GuardBusyError) Error() string {
	return fmt.Sprintf("%s is held by another process for more than %s (a drover run stopped or hung while updating its lock?)", e.Path, e.Waited)
}

func (l *Local) readLock() (*LockInfo, error) {
	data, err := os.ReadFile(l.lockPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var info LockInfo
	if err := json.Unmarshal(data, &info); err != nil {
		// A lock file we cannot read is treated as expired: it cannot
		// have been written by a live drover.
		return &LockInfo{Owner: "unknown (unreadable lock file)"}, nil
	}
	return &info, nil
}

// Lock takes the lock, taking over an expired one.
func (l *Local) Lock(ctx context.Context, info LockInfo) (Lock, error) {
	ttl := l.TTL
	if ttl <= 0 {
		ttl = 2 * time.Minute
	}
	if info.ID == "" {
		b := make([]byte, 8)
		rand.Read(b)
		info.ID = hex.EncodeToString(b)
	}
	now := l.now()
	info.Created = now
	info.Expires = now.Add(ttl)
	err := l.guard(func() error {
		cur, err := l.readLock()
		if err != nil {
			return err
		}
		if cur != nil {
			if now.Before(cur.Expires) && !l.holderGone(cur) {
				return &LockHeldError{Holder: *cur, Where: l.lockPath()}
			}
			if l.OnTakeover != nil {
				l.OnTakeover(*cur)
			}
		}
		data, _ := json.Marshal(info)
		return writeAtomic(l.lockPath(), data, 0o600)
	})
	var busy *GuardBusyError
	if errors.As(err, &busy) {
		// Someone is inside a lock operation and does not come out: the
		// lock is as good as held. Name the holder when the lock file says
		// who it is (read without the guard: only for the message).
		if cur, rerr := l.readLock(); rerr == nil && cur != nil {
			return nil, &LockHeldError{Holder: *cur, Where: l.lockPath()}
		}
	}
	if err != nil {
		return nil, err
	}
	lk := &localLock{store: l, info: info, ttl: ttl, stop: make(chan struct{}), lost: make(chan struct{}), done: make(chan struct{})}
	go lk.renew()
	return lk, nil
}

// LockStatus reports the holder, nil when unlocked or expired.
func (l *Local) LockStatus(ctx context.Context) (*LockInfo, error) {
	var out *LockInfo
	err := l.guard(func() error {
		cur, err := l.readLock()
		out = cur
		return err
	})
	return out, err
}

// ForceUnlock removes the lock file.
func (l *Local) ForceUnlock(ctx context.Context) error {
	return l.guard(func() error {
		err := os.Remove(l.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	})
}

type localLock struct {
	store *Local
	ttl   time.Duration
	mu    sync.Mutex
	info  LockInfo
	stop  chan struct{}
	lost  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (k *localLock) Info() LockInfo        { k.mu.Lock(); defer k.mu.Unlock(); return k.info }
func (k *localLock) Lost() <-chan struct{} { return k.lost }

// renew extends the expiry every third of the TTL while the run lasts.
func (k *localLock) renew() {
	defer close(k.done)
	t := time.NewTicker(k.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-t.C:
			if err := k.extend(); err != nil {
				close(k.lost)
				return
			}
		}
	}
}

var errLockStolen = errors.New("lock was taken by another run")

func (k *localLock) extend() error {
	return k.store.guard(func() error {
		cur, err := k.store.readLock()
		if err != nil {
			return err
		}
		k.mu.Lock()
		defer k.mu.Unlock()
		if cur == nil || cur.ID != k.info.ID {
			return errLockStolen
		}
		k.info.Expires = k.store.now().Add(k.ttl)
		data, _ := json.Marshal(k.info)
		return writeAtomic(k.store.lockPath(), data, 0o600)
	})
}

// Release removes the lock if it is still ours.
func (k *localLock) Release(ctx context.Context) error {
	var err error
	k.once.Do(func() {
		close(k.stop)
		<-k.done
		err = k.store.guard(func() error {
			cur, err := k.store.readLock()
			if err != nil || cur == nil || cur.ID != k.info.ID {
				return err
			}
			return os.Remove(k.store.lockPath())
		})
	})
	return err
}
