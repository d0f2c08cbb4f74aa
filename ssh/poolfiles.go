package ssh

import (
	"context"
	"io"
	"os"
)

// Files returns the file operations of the named host over its pooled
// connection, with Runner's redial: when the connection died under an
// operation, the host is redialled once per run, and the operation is
// tried again only if it had not started or is safe to repeat (ReadFile,
// MkdirAll). A write, create, remove or rename that may have happened is
// not repeated: it fails with a *ConnectionLostError.
func (p *Pool) Files(name string) *Files { return &Files{pool: p, name: name} }

// Files is a host's file operations through a Pool; see Pool.Files.
type Files struct {
	pool *Pool
	name string
}

func (f *Files) ReadFile(ctx context.Context, name string) ([]byte, error) {
	return withRedial(ctx, f.pool, f.name, true, func(c *Client) ([]byte, error) { return c.ReadFile(ctx, name) })
}

func (f *Files) MkdirAll(ctx context.Context, dir string) error {
	return noValue(withRedial(ctx, f.pool, f.name, true, func(c *Client) (struct{}, error) {
		return struct{}{}, c.MkdirAll(ctx, dir)
	}))
}

// WriteFileAtomic is not repeated once started even though the rename
// makes it safe: r has been consumed.
func (f *Files) WriteFileAtomic(ctx context.Context, name string, r io.Reader, mode os.FileMode) error {
	return noValue(withRedial(ctx, f.pool, f.name, false, func(c *Client) (struct{}, error) {
		return struct{}{}, c.WriteFileAtomic(ctx, name, r, mode)
	}))
}

func (f *Files) CreateExclusive(ctx context.Context, name string, data []byte, mode os.FileMode) error {
	return noValue(withRedial(ctx, f.pool, f.name, false, func(c *Client) (struct{}, error) {
		return struct{}{}, c.CreateExclusive(ctx, name, data, mode)
	}))
}

func (f *Files) Remove(ctx context.Context, name string) error {
	return noValue(withRedial(ctx, f.pool, f.name, false, func(c *Client) (struct{}, error) {
		return struct{}{}, c.Remove(ctx, name)
	}))
}

func (f *Files) Rename(ctx context.Context, oldname, newname string) error {
	return noValue(withRedial(ctx, f.pool, f.name, false, func(c *Client) (struct{}, error) {
		return struct{}{}, c.Rename(ctx, oldname, newname)
	}))
}

func noValue(_ struct{}, err error) error { return err }
