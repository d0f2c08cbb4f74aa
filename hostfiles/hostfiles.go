// Package hostfiles keeps the config and secret files of the replicas on
// each host: written before the replicas that mount them are created,
// checked and repaired on every run, removed once no container on the
// host mounts them.
//
// The files live under cluster.FilesDir (/var/lib/drover/configs/CLUSTER/
// NAME/…, /var/lib/drover/secrets/CLUSTER/NAME/…) in directories only root
// may enter,
// on disk: docker's restart policy brings a replica back after a dockerd
// restart or a reboot before drover runs again, and the bind mount finds
// its file. Each file is named by its content version, owner and mode
// (cluster.FileMount.HostPath), so a new version is a new file: replicas
// of the old generation keep theirs until they are gone.
package hostfiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"sync"

	"github.com/drover-sh/drover/internal/fanout"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/ssh"
)

// FS is what the package needs of a host's files; ssh.Files has it.
type FS interface {
	ListFiles(ctx context.Context, dir string) ([]ssh.FileInfo, error)
	ReadFile(ctx context.Context, name string) ([]byte, error)
	WriteFileOwned(ctx context.Context, name string, data []byte, a ssh.FileAttrs) error
	RewriteFile(ctx context.Context, name string, data []byte, a ssh.FileAttrs) error
	MkdirAll(ctx context.Context, dir string) error
	Chmod(ctx context.Context, name string, mode os.FileMode) error
	Remove(ctx context.Context, name string) error
}

var _ FS = (*ssh.Files)(nil)

// Content returns the content of one version of a config or secret.
type Content func(kind cluster.ObjectKind, name, version string) ([]byte, error)

// dirMode: only root enters the directories. The files themselves carry
// the mode and owner the compose file asks for, which is what the
// container sees through its bind mount.
const dirMode = 0o700

// fileParallel is how many files of one host are written or checked at
// once.
const fileParallel = 4

// Result says what a Sync or Prune did on one host.
type Result struct {
	Written  int // files that were missing
	Repaired int // files whose content, mode or owner had been changed
	Removed  int // files no container mounts any more
	// Held is how many of drover's files the host has after the call.
	Held int
}

// Sync makes every file of want present on the host with its content,
// mode and owner. A missing file is written atomically; one that differs
// is rewritten in place, so that running containers, which hold the
// file's inode through their bind mount, see the repair too.
func Sync(ctx context.Context, fs FS, clusterName string, want []cluster.FileMount, content Content) (Result, error) {
	var res Result
	have, err := list(ctx, fs, clusterName)
	if err != nil {
		return res, err
	}
	res.Held = len(have)
	byPath := map[string]cluster.FileMount{}
	for _, f := range want {
		if err := f.Check(); err != nil {
			return res, err
		}
		byPath[f.HostPath(clusterName)] = f
	}
	if len(byPath) > 0 {
		if err := rootOnlyDirs(ctx, fs, clusterName); err != nil {
			return res, err
		}
	}
	var mu sync.Mutex
	var errs []error
	fail := func(f cluster.FileMount, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Errorf("%s %s: %w", f.Kind, f.Name, err))
	}
	// A few files at once: SFTP answers requests of one session in any
	// order, and each file costs several round trips.
	fanout.Each(ctx, fileParallel, sortedKeys(byPath), func(ctx context.Context, _ int, p string) error {
		f := byPath[p]
		data, err := content(f.Kind, f.Name, f.Version)
		if err != nil {
			fail(f, err)
			return nil
		}
		attrs := ssh.FileAttrs{Mode: os.FileMode(f.Mode), UID: int(f.UID), GID: int(f.GID), DirMode: dirMode}
		cur, ok := have[p]
		if !ok {
			if err := fs.WriteFileOwned(ctx, p, data, attrs); err != nil {
				fail(f, err)
				return nil
			}
			mu.Lock()
			res.Written++
			res.Held++
			mu.Unlock()
			return nil
		}
		same := cur.Size == int64(len(data)) && cur.Mode == attrs.Mode && cur.UID == attrs.UID && cur.GID == attrs.GID
		if same {
			got, err := fs.ReadFile(ctx, p)
			if err != nil {
				fail(f, err)
				return nil
			}
			same = bytes.Equal(got, data)
		}
		if same {
			return nil
		}
		if err := fs.RewriteFile(ctx, p, data, attrs); err != nil {
			fail(f, err)
			return nil
		}
		mu.Lock()
		res.Repaired++
		mu.Unlock()
		return nil
	})
	return res, errors.Join(errs...)
}

// Prune removes drover's files that no container mounts (inUse holds host
// paths), and the object directories left empty.
func Prune(ctx context.Context, fs FS, clusterName string, inUse map[string]bool) (Result, error) {
	var res Result
	have, err := list(ctx, fs, clusterName)
	if err != nil {
		return res, err
	}
	dirs := map[string]bool{}
	var errs []error
	for _, p := range sortedKeys(have) {
		if inUse[p] {
			res.Held++
			continue
		}
		if err := fs.Remove(ctx, p); err != nil && !ssh.IsNotExist(err) {
			errs = append(errs, err)
			res.Held++
			continue
		}
		res.Removed++
		dirs[path.Dir(p)] = true
	}
	for _, d := range sortedKeys(dirs) {
		// Fails while the directory holds another version: that is fine.
		fs.Remove(ctx, d)
	}
	return res, errors.Join(errs...)
}

// list returns drover's files on the host by path, both kinds; anything
// else found there (a temporary file of a write that was cut off) counts
// as a file nobody mounts.
func list(ctx context.Context, fs FS, clusterName string) (map[string]ssh.FileInfo, error) {
	out := map[string]ssh.FileInfo{}
	for _, kind := range []cluster.ObjectKind{cluster.KindConfig, cluster.KindSecret} {
		files, err := fs.ListFiles(ctx, cluster.KindDir(kind, clusterName))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			out[f.Path] = f
		}
	}
	return out, nil
}

// rootOnlyDirs makes the directories of both kinds and gives them mode
// 0700 (one made by hand may be wider).
func rootOnlyDirs(ctx context.Context, fs FS, clusterName string) error {
	for _, kind := range []cluster.ObjectKind{cluster.KindConfig, cluster.KindSecret} {
		dir := cluster.KindDir(kind, clusterName)
		if err := fs.MkdirAll(ctx, dir); err != nil {
			return err
		}
		for _, d := range []string{path.Dir(dir), dir} {
			if err := fs.Chmod(ctx, d, dirMode); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
