package state

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeCluster is a set of in-memory manager hosts.
type fakeCluster struct {
	names []string
	hosts map[string]*fakeHost
}

func newFakeCluster(names ...string) *fakeCluster {
	c := &fakeCluster{names: names, hosts: map[string]*fakeHost{}}
	for _, n := range names {
		c.hosts[n] = &fakeHost{name: n, files: map[string]fakeFile{}, dirs: map[string]bool{"/": true}}
	}
	return c
}

type fakeFile struct {
	data []byte
	mode os.FileMode
}

// fakeHost is one manager's filesystem. down makes every call fail.
type fakeHost struct {
	name string

	mu    sync.Mutex
	files map[string]fakeFile
	dirs  map[string]bool
	down  error
	// failWrite fails WriteFileAtomic of paths for which it returns an error.
	failWrite func(path string) error
	// beforeRename runs (unlocked) before each Rename.
	beforeRename func(oldpath string)
	// slowCreate makes CreateExclusive leave the file empty that long
	// before writing its content, like the SFTP implementation does.
	slowCreate time.Duration
	noRename   bool
	// hang, while open, makes every call block until it is closed,
	// whatever its context says (like an SFTP request to a frozen sshd).
	hang chan struct{}
}

// freeze makes the host hang; the returned func thaws it.
func (h *fakeHost) freeze() (thaw func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	h.hang = ch
	h.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			h.mu.Lock()
			h.hang = nil
			h.mu.Unlock()
			close(ch)
		})
	}
}

var (
	errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	errTimeout = fmt.Errorf("dial: %w", context.DeadlineExceeded)
)

func (h *fakeHost) setDown(err error) {
	h.mu.Lock()
	h.down = err
	h.mu.Unlock()
}

func (h *fakeHost) get(name string) ([]byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, ok := h.files[name]
	return f.data, ok
}

func (h *fakeHost) put(name string, data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mkdirAll(path.Dir(name))
	h.files[name] = fakeFile{data: append([]byte(nil), data...), mode: 0o600}
}

func (h *fakeHost) del(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.files, name)
}

// list returns the names of the files, sorted.
func (h *fakeHost) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for n := range h.files {
		out = append(out, path.Base(n))
	}
	sort.Strings(out)
	return out
}

func (h *fakeHost) mkdirAll(dir string) {
	for d := dir; !h.dirs[d]; d = path.Dir(d) {
		h.dirs[d] = true
	}
}

// fakeFS is a connection to a fakeHost.
type fakeFS struct{ h *fakeHost }

// plainFS hides fakeFS's Rename.
type plainFS struct{ RemoteFS }

func (c *fakeCluster) open(ctx context.Context, host string) (RemoteFS, error) {
	h, ok := c.hosts[host]
	if !ok {
		return nil, fmt.Errorf("unknown host %s", host)
	}
	if err := h.err(ctx); err != nil {
		return nil, err
	}
	h.mu.Lock()
	noRename := h.noRename
	h.mu.Unlock()
	if noRename {
		return plainFS{fakeFS{h}}, nil
	}
	return fakeFS{h}, nil
}

func (h *fakeHost) err(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h.mu.Lock()
	hang := h.hang
	h.mu.Unlock()
	if hang != nil {
		<-hang
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down != nil {
		return &hostErr{h.name, h.down}
	}
	return nil
}

type hostErr struct {
	host string
	err  error
}

func (e *hostErr) Error() string { return "ssh " + e.host + ": " + e.err.Error() }
func (e *hostErr) Unwrap() error { return e.err }

func (f fakeFS) ReadFile(ctx context.Context, name string) ([]byte, error) {
	if err := f.h.err(ctx); err != nil {
		return nil, err
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	file, ok := f.h.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return append([]byte(nil), file.data...), nil
}

func (f fakeFS) WriteFileAtomic(ctx context.Context, name string, r io.Reader, mode os.FileMode) error {
	if err := f.h.err(ctx); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if f.h.failWrite != nil {
		if err := f.h.failWrite(name); err != nil {
			return err
		}
	}
	f.h.mkdirAll(path.Dir(name))
	f.h.files[name] = fakeFile{data: data, mode: mode}
	return nil
}

func (f fakeFS) CreateExclusive(ctx context.Context, name string, data []byte, mode os.FileMode) error {
	if err := f.h.err(ctx); err != nil {
		return err
	}
	f.h.mu.Lock()
	if _, ok := f.h.files[name]; ok {
		f.h.mu.Unlock()
		return &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	if !f.h.dirs[path.Dir(name)] {
		f.h.mu.Unlock()
		return &fs.PathError{Op: "create", Path: name, Err: fs.ErrNotExist}
	}
	slow := f.h.slowCreate
	if slow > 0 {
		f.h.files[name] = fakeFile{mode: mode}
		f.h.mu.Unlock()
		time.Sleep(slow)
		f.h.mu.Lock()
	}
	f.h.files[name] = fakeFile{data: append([]byte(nil), data...), mode: mode}
	f.h.mu.Unlock()
	return nil
}

func (f fakeFS) Remove(ctx context.Context, name string) error {
	if err := f.h.err(ctx); err != nil {
		return err
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	if _, ok := f.h.files[name]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(f.h.files, name)
	return nil
}

func (f fakeFS) Rename(ctx context.Context, oldpath, newpath string) error {
	if err := f.h.err(ctx); err != nil {
		return err
	}
	f.h.mu.Lock()
	hook := f.h.beforeRename
	f.h.mu.Unlock()
	if hook != nil {
		hook(oldpath)
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	file, ok := f.h.files[oldpath]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldpath, Err: fs.ErrNotExist}
	}
	delete(f.h.files, oldpath)
	f.h.files[newpath] = file
	return nil
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testDir = "/var/lib/drover/lab"

// managers returns a backend over the cluster.
func (c *fakeCluster) managers(clock *testClock) *Managers {
	m := &Managers{Hosts: c.names, Open: c.open, Dir: testDir, TTL: time.Minute, leaseGrace: 20 * time.Millisecond}
	if clock != nil {
		m.Now = clock.Now
	}
	return m
}

func (c *fakeCluster) host(name string) *fakeHost { return c.hosts[name] }

// serialOn returns the serial of the state file on a host, -1 if none.
func (c *fakeCluster) serialOn(t *testing.T, host, file string) int64 {
	t.Helper()
	data, ok := c.host(host).get(path.Join(testDir, file))
	if !ok {
		return -1
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("%s:%s: %v", host, file, err)
	}
	return s.Serial
}

// leaseOn returns the lease on a host, nil if none.
func (c *fakeCluster) leaseOn(t *testing.T, host string) *LockInfo {
	t.Helper()
	data, ok := c.host(host).get(path.Join(testDir, managersLockFile))
	if !ok {
		return nil
	}
	info, ok := parseLease(data)
	if !ok {
		t.Fatalf("%s: unreadable lease %q", host, data)
	}
	return info
}

// assertClean fails if any host has files other than the state files and,
// if lease is set, the lease.
func (c *fakeCluster) assertClean(t *testing.T, lease bool) {
	t.Helper()
	for _, n := range c.names {
		for _, f := range c.host(n).list() {
			if f == managersStateFile || f == managersBackupFile || lease && f == managersLockFile {
				continue
			}
			t.Errorf("%s: unexpected file %s", n, f)
		}
	}
}

// lagRecorder collects OnLagging reports.
type lagRecorder struct {
	mu  sync.Mutex
	got []string
}

func (r *lagRecorder) record(host string, serial int64) {
	r.mu.Lock()
	r.got = append(r.got, fmt.Sprintf("%s=%d", host, serial))
	r.mu.Unlock()
}

func (r *lagRecorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.got, ",")
	r.got = nil
	return s
}
