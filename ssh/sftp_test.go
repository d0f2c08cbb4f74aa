package ssh

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSFTPWriteFileAtomic(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", echoHandler)
	c := dialT(t, cfg)
	ctx := t.Context()
	root := t.TempDir()
	name := filepath.Join(root, "etc", "drover", "stack.yml")

	if err := c.WriteFileAtomic(ctx, name, strings.NewReader("v1"), 0o640); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), 3<<20)
	if err := c.WriteFileAtomic(ctx, name, bytes.NewReader(big), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadFile(ctx, name)
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back %d bytes, %v", len(got), err)
	}
	assertMode(t, name, 0o600)
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	_, err = c.ReadFile(ctx, filepath.Join(root, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "h1: read ") {
		t.Errorf("error %q", err)
	}
}

func TestSFTPCreateExclusiveAndRemove(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", echoHandler)
	c := dialT(t, cfg)
	ctx := t.Context()
	lock := filepath.Join(t.TempDir(), "deploy.lock")

	if err := c.CreateExclusive(ctx, lock, []byte("run 1"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.CreateExclusive(ctx, lock, []byte("run 2"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("want fs.ErrExist, got %v", err)
	}
	if data, _ := os.ReadFile(lock); string(data) != "run 1" {
		t.Errorf("lock content %q", data)
	}
	assertMode(t, lock, 0o600)
	if err := c.Remove(ctx, lock); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(ctx, lock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("want fs.ErrNotExist, got %v", err)
	}
	if err := c.CreateExclusive(ctx, lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}
