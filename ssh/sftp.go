package ssh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// WriteFileAtomic writes r to name so that readers see either the old or
// the complete new content: the data goes to a temporary file next to it,
// which is synced (when the server supports fsync@openssh.com), given
// mode and renamed over name. Missing parent directories are created.
func (c *Client) WriteFileAtomic(ctx context.Context, name string, r io.Reader, mode os.FileMode) error {
	_, err := fileOp(ctx, c, "write "+name, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		if err := s.MkdirAll(path.Dir(name)); err != nil {
			return struct{}{}, c.fileError("mkdir", path.Dir(name), err)
		}
		tmp := name + ".tmp-" + randomSuffix()
		if err := writeTemp(ctx, s, tmp, r, mode); err != nil {
			s.Remove(tmp)
			return struct{}{}, c.fileError("write", name, err)
		}
		if err := replace(s, tmp, name); err != nil {
			s.Remove(tmp)
			return struct{}{}, c.fileError("rename", name, err)
		}
		return struct{}{}, nil
	})
	return err
}

func writeTemp(ctx context.Context, s *sftp.Client, tmp string, r io.Reader, mode os.FileMode) error {
	f, err := s.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return err
	}
	// chmod before writing, so secrets are never readable under the
	// server's default umask.
	err = f.Chmod(mode)
	if err == nil {
		_, err = io.Copy(f, ctxReader{ctx, r})
	}
	if err == nil {
		err = syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFile fsyncs f, ignoring servers without fsync@openssh.com.
func syncFile(f *sftp.File) error {
	err := f.Sync()
	var st *sftp.StatusError
	if errors.As(err, &st) && st.FxCode() == sftp.ErrSSHFxOpUnsupported {
		return nil
	}
	return err
}

// replace renames tmp over name. Plain SFTP rename refuses to overwrite,
// so without posix-rename@openssh.com we remove name first, which leaves a
// short window in which name is missing.
func replace(s *sftp.Client, tmp, name string) error {
	if _, ok := s.HasExtension("posix-rename@openssh.com"); ok {
		return s.PosixRename(tmp, name)
	}
	if err := s.Remove(name); err != nil && !isNotExist(err) {
		return err
	}
	return s.Rename(tmp, name)
}

// ReadFile returns the content of name. A missing file yields an error
// matching fs.ErrNotExist.
func (c *Client) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return fileOp(ctx, c, "read "+name, func(ctx context.Context, s *sftp.Client) ([]byte, error) {
		f, err := s.Open(name)
		if err != nil {
			return nil, c.fileError("read", name, err)
		}
		defer f.Close()
		data, err := io.ReadAll(ctxReader{ctx, f})
		if err != nil {
			return nil, c.fileError("read", name, err)
		}
		return data, nil
	})
}

// CreateExclusive creates name with data and mode, failing with an error
// matching fs.ErrExist if it already exists; use it for lock and marker
// files. The data is written after the exclusive create, so a concurrent
// reader may briefly see an empty file.
func (c *Client) CreateExclusive(ctx context.Context, name string, data []byte, mode os.FileMode) error {
	_, err := fileOp(ctx, c, "create "+name, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		f, err := s.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		if err != nil {
			// SFTP v3 has no "already exists" status; servers answer with a
			// generic failure, so look.
			if _, serr := s.Lstat(name); serr == nil {
				err = fs.ErrExist
			}
			return struct{}{}, c.fileError("create", name, err)
		}
		err = f.Chmod(mode)
		if err == nil {
			_, err = f.Write(data)
		}
		if err == nil {
			err = syncFile(f)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// Don't leave a half-written lock behind.
			s.Remove(name)
			return struct{}{}, c.fileError("create", name, err)
		}
		return struct{}{}, nil
	})
	return err
}

// Remove removes the file or empty directory name. A missing file yields
// an error matching fs.ErrNotExist.
func (c *Client) Remove(ctx context.Context, name string) error {
	_, err := fileOp(ctx, c, "remove "+name, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		if err := s.Remove(name); err != nil {
			return struct{}{}, c.fileError("remove", name, err)
		}
		return struct{}{}, nil
	})
	return err
}

// fileError wraps an SFTP error in an *fs.PathError whose Err matches the
// fs sentinel errors, prefixed with the host name.
func (c *Client) fileError(op, name string, err error) error {
	var st *sftp.StatusError
	if errors.As(err, &st) {
		switch st.FxCode() {
		case sftp.ErrSSHFxNoSuchFile:
			err = fmt.Errorf("%w (%v)", fs.ErrNotExist, st)
		case sftp.ErrSSHFxPermissionDenied:
			err = fmt.Errorf("%w (%v)", fs.ErrPermission, st)
		}
	}
	return &HostError{Host: c.name, Err: &fs.PathError{Op: op, Path: name, Err: err}}
}

func isNotExist(err error) bool {
	var st *sftp.StatusError
	return errors.Is(err, fs.ErrNotExist) || errors.As(err, &st) && st.FxCode() == sftp.ErrSSHFxNoSuchFile
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Rename renames oldname to newname, replacing newname when the server has
// posix-rename@openssh.com. A missing oldname yields fs.ErrNotExist.
func (c *Client) Rename(ctx context.Context, oldname, newname string) error {
	_, err := fileOp(ctx, c, "rename "+oldname, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		var err error
		if _, ok := s.HasExtension("posix-rename@openssh.com"); ok {
			err = s.PosixRename(oldname, newname)
		} else {
			err = s.Rename(oldname, newname)
		}
		if err != nil {
			return struct{}{}, c.fileError("rename", oldname, err)
		}
		return struct{}{}, nil
	})
	return err
}

// MkdirAll creates dir and its missing parents.
func (c *Client) MkdirAll(ctx context.Context, dir string) error {
	_, err := fileOp(ctx, c, "mkdir "+dir, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		if err := s.MkdirAll(dir); err != nil {
			return struct{}{}, c.fileError("mkdir", dir, err)
		}
		return struct{}{}, nil
	})
	return err
}
