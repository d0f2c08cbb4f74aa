package ssh

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"

	"github.com/pkg/sftp"
)

// FileAttrs are the permission bits and owner a file is written with.
type FileAttrs struct {
	Mode os.FileMode
	UID  int
	GID  int
	// DirMode is given to the parent directories the write creates or
	// finds (0 leaves them as they are).
	DirMode os.FileMode
}

// FileInfo is one regular file found by ListFiles.
type FileInfo struct {
	Path string
	Size int64
	Mode os.FileMode // permission bits
	UID  int
	GID  int
}

// WriteFileOwned writes data to name atomically (a temporary file next to
// it, owner and mode set before any byte is written, synced, renamed
// over name), so that a reader — a container started by docker's restart
// policy — sees the old file or the whole new one. The parent directories
// are created and given attrs.DirMode.
func (c *Client) WriteFileOwned(ctx context.Context, name string, data []byte, a FileAttrs) error {
	_, err := fileOp(ctx, c, "write "+name, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		dir := path.Dir(name)
		if err := s.MkdirAll(dir); err != nil {
			return struct{}{}, c.fileError("mkdir", dir, err)
		}
		if a.DirMode != 0 {
			if err := s.Chmod(dir, a.DirMode); err != nil {
				return struct{}{}, c.fileError("chmod", dir, err)
			}
		}
		tmp := path.Join(dir, ".tmp-"+randomSuffix())
		err := func() error {
			f, err := s.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
			if err != nil {
				return err
			}
			// Nobody but root may read it until it has its final owner
			// and mode.
			err = f.Chmod(0)
			if err == nil {
				_, err = io.Copy(f, ctxReader{ctx, bytes.NewReader(data)})
			}
			if err == nil {
				err = syncFile(f)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = s.Chown(tmp, a.UID, a.GID)
			}
			if err == nil {
				err = s.Chmod(tmp, a.Mode)
			}
			return err
		}()
		if err != nil {
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

// RewriteFile puts data, owner and mode into the existing file name in
// place: unlike a rename, this reaches running containers that bind-mount
// the file (they hold its inode). For repairing a file that was altered.
func (c *Client) RewriteFile(ctx context.Context, name string, data []byte, a FileAttrs) error {
	_, err := fileOp(ctx, c, "rewrite "+name, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		err := s.Chown(name, a.UID, a.GID)
		if err == nil {
			err = s.Chmod(name, a.Mode)
		}
		if err == nil {
			var f *sftp.File
			if f, err = s.OpenFile(name, os.O_WRONLY|os.O_TRUNC); err == nil {
				_, err = io.Copy(f, ctxReader{ctx, bytes.NewReader(data)})
				if err == nil {
					err = syncFile(f)
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		}
		if err != nil {
			return struct{}{}, c.fileError("rewrite", name, err)
		}
		return struct{}{}, nil
	})
	return err
}

// ListFiles returns the regular files under dir, at any depth; a missing
// dir holds none.
func (c *Client) ListFiles(ctx context.Context, dir string) ([]FileInfo, error) {
	return fileOp(ctx, c, "list "+dir, func(ctx context.Context, s *sftp.Client) ([]FileInfo, error) {
		var out []FileInfo
		w := s.Walk(dir)
		for w.Step() {
			if err := w.Err(); err != nil {
				if w.Path() == dir && isNotExist(err) {
					return nil, nil
				}
				return nil, c.fileError("list", w.Path(), err)
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			st := w.Stat()
			if !st.Mode().IsRegular() {
				continue
			}
			fi := FileInfo{Path: w.Path(), Size: st.Size(), Mode: st.Mode().Perm()}
			if fs, ok := st.Sys().(*sftp.FileStat); ok {
				fi.UID, fi.GID = int(fs.UID), int(fs.GID)
			}
			out = append(out, fi)
		}
		return out, nil
	})
}

// Chmod sets the permission bits of name.
func (c *Client) Chmod(ctx context.Context, name string, mode os.FileMode) error {
	_, err := fileOp(ctx, c, "chmod "+name, func(ctx context.Context, s *sftp.Client) (struct{}, error) {
		if err := s.Chmod(name, mode); err != nil {
			return struct{}{}, c.fileError("chmod", name, err)
		}
		return struct{}{}, nil
	})
	return err
}

// IsNotExist tells an error of a missing file from the file operations.
func IsNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) || isNotExist(err) }

func (f *Files) WriteFileOwned(ctx context.Context, name string, data []byte, a FileAttrs) error {
	// Repeating it is safe (a temporary file, then a rename), and data is
	// still in hand.
	return noValue(withRedial(ctx, f.pool, f.name, true, func(c *Client) (struct{}, error) {
		return struct{}{}, c.WriteFileOwned(ctx, name, data, a)
	}))
}

func (f *Files) RewriteFile(ctx context.Context, name string, data []byte, a FileAttrs) error {
	return noValue(withRedial(ctx, f.pool, f.name, true, func(c *Client) (struct{}, error) {
		return struct{}{}, c.RewriteFile(ctx, name, data, a)
	}))
}

func (f *Files) ListFiles(ctx context.Context, dir string) ([]FileInfo, error) {
	return withRedial(ctx, f.pool, f.name, true, func(c *Client) ([]FileInfo, error) { return c.ListFiles(ctx, dir) })
}

func (f *Files) Chmod(ctx context.Context, name string, mode os.FileMode) error {
	return noValue(withRedial(ctx, f.pool, f.name, true, func(c *Client) (struct{}, error) {
		return struct{}{}, c.Chmod(ctx, name, mode)
	}))
}
