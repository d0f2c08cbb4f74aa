package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"
)

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
