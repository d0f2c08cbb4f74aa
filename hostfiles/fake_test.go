package hostfiles

import (
	"context"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/drover-sh/drover/ssh"
)

// fakeFS is a host's files in memory, with the calls it saw.
type fakeFS struct {
	mu    sync.Mutex
	files map[string]fakeFile
	dirs  map[string]os.FileMode
	calls []string
}

type fakeFile struct {
	data     []byte
	mode     os.FileMode
	uid, gid int
	inode    int // changes when the file is replaced, not when rewritten
}

var _ FS = (*fakeFS)(nil)

func newFakeFS() *fakeFS {
	return &fakeFS{files: map[string]fakeFile{}, dirs: map[string]os.FileMode{}}
}

func (f *fakeFS) record(s string) { f.calls = append(f.calls, s) }

func (f *fakeFS) ListFiles(_ context.Context, dir string) ([]ssh.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("list " + dir)
	var out []ssh.FileInfo
	for p, file := range f.files {
		if strings.HasPrefix(p, dir+"/") {
			out = append(out, ssh.FileInfo{Path: p, Size: int64(len(file.data)), Mode: file.mode, UID: file.uid, GID: file.gid})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (f *fakeFS) ReadFile(_ context.Context, name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("read " + name)
	file, ok := f.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), file.data...), nil
}

func (f *fakeFS) WriteFileOwned(_ context.Context, name string, data []byte, a ssh.FileAttrs) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("write " + name)
	f.dirs[path.Dir(name)] = a.DirMode
	old := f.files[name]
	f.files[name] = fakeFile{data: append([]byte(nil), data...), mode: a.Mode, uid: a.UID, gid: a.GID, inode: old.inode + 1}
	return nil
}

func (f *fakeFS) RewriteFile(_ context.Context, name string, data []byte, a ssh.FileAttrs) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("rewrite " + name)
	old, ok := f.files[name]
	if !ok {
		return fs.ErrNotExist
	}
	f.files[name] = fakeFile{data: append([]byte(nil), data...), mode: a.Mode, uid: a.UID, gid: a.GID, inode: old.inode}
	return nil
}

func (f *fakeFS) MkdirAll(_ context.Context, dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.dirs[dir]; !ok {
		f.dirs[dir] = 0o755
	}
	return nil
}

func (f *fakeFS) Chmod(_ context.Context, name string, mode os.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs[name] = mode
	return nil
}

func (f *fakeFS) Remove(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.files[name]; ok {
		f.record("remove " + name)
		delete(f.files, name)
		return nil
	}
	for p := range f.files {
		if strings.HasPrefix(p, name+"/") {
			return fs.ErrExist // not empty
		}
	}
	if _, ok := f.dirs[name]; ok {
		f.record("rmdir " + name)
		delete(f.dirs, name)
		return nil
	}
	return fs.ErrNotExist
}
