package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"
)

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
