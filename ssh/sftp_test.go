package ssh

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover-sh/drover/ssh/sshtest"
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

// TestSFTPStalledServer: a file operation on a server that never answers
// ends with FileTimeout (or the caller's context), and the next one opens
// a new SFTP session.
func TestSFTPStalledServer(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", echoHandler, sshtest.WithStalledSFTP(2))
	cfg.FileTimeout = 200 * time.Millisecond
	c := dialT(t, cfg)
	name := filepath.Join(t.TempDir(), "state.json")
	os.WriteFile(name, []byte("v1"), 0o600)

	start := time.Now()
	_, err := c.ReadFile(t.Context(), name)
	var te *CommandTimeoutError
	if !errors.As(err, &te) || !errors.Is(err, ErrTimeout) || !strings.HasPrefix(err.Error(), "h1: sftp read ") {
		t.Fatalf("want a file timeout, got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	c.fileTimeout = time.Minute
	if err := c.Remove(ctx, name); !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &te) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}

	// Both stalled sessions were dropped; the third answers.
	got, err := c.ReadFile(t.Context(), name)
	if err != nil || string(got) != "v1" {
		t.Fatalf("after the stalls: %q, %v", got, err)
	}
}
