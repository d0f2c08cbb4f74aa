package ssh

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestSFTPWriteFileOwnedListRewrite(t *testing.T) {
	env := newTestEnv(t)
	_, cfg := env.server(t, "h1", echoHandler)
	c := dialT(t, cfg)
	ctx := t.Context()
	root := t.TempDir()
	name := filepath.Join(root, "secrets", "prod", "db", "v1-0-0-0400")
	uid, gid := os.Getuid(), os.Getgid() // chown to ourselves works without root

	if err := c.WriteFileOwned(ctx, name, []byte("pw-1"), FileAttrs{Mode: 0o400, UID: uid, GID: gid, DirMode: 0o700}); err != nil {
		t.Fatal(err)
	}
	assertMode(t, name, 0o400)
	assertMode(t, filepath.Dir(name), os.ModeDir|0o700)
	files, err := c.ListFiles(ctx, filepath.Join(root, "secrets"))
	if err != nil || len(files) != 1 || files[0].Path != name || files[0].Size != 4 || files[0].Mode != 0o400 || files[0].UID != uid {
		t.Fatalf("ListFiles = %+v, %v", files, err)
	}
	if missing, err := c.ListFiles(ctx, filepath.Join(root, "nope")); err != nil || len(missing) != 0 {
		t.Errorf("a missing directory: %v %v", missing, err)
	}

	// Rewrite keeps the inode: a bind mount of the file sees the repair.
	before := inode(t, name)
	os.Chmod(name, 0o666)
	if err := c.RewriteFile(ctx, name, []byte("pw-1 again"), FileAttrs{Mode: 0o400, UID: uid, GID: gid}); err != nil {
		t.Fatal(err)
	}
	if inode(t, name) != before {
		t.Error("RewriteFile replaced the file")
	}
	assertMode(t, name, 0o400)
	if b, _ := os.ReadFile(name); string(b) != "pw-1 again" {
		t.Errorf("content %q", b)
	}
	// A second write replaces it atomically, leaving no temporary file.
	if err := c.WriteFileOwned(ctx, name, []byte("pw-2"), FileAttrs{Mode: 0o440, UID: uid, GID: gid}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if err := c.RewriteFile(ctx, filepath.Join(root, "missing"), []byte("x"), FileAttrs{Mode: 0o400, UID: uid, GID: gid}); !IsNotExist(err) || !strings.HasPrefix(err.Error(), "h1: ") {
		t.Errorf("rewrite of a missing file: %v", err)
	}
}

func inode(t *testing.T, name string) uint64 {
	t.Helper()
	st, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
