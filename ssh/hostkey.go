package ssh

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsFiles hands out one knownHostsFile per path, so that parallel
// dials of a Pool share the parsed file and serialise their appends.
type knownHostsFiles struct {
	mu    sync.Mutex
	files map[string]*knownHostsFile
}

func newKnownHostsFiles() *knownHostsFiles {
	return &knownHostsFiles{files: make(map[string]*knownHostsFile)}
}

// get returns the file at path; label, when set, names it in messages.
func (k *knownHostsFiles) get(path, label string) *knownHostsFile {
	path = filepath.Clean(path)
	k.mu.Lock()
	defer k.mu.Unlock()
	f, ok := k.files[path]
	if !ok {
		f = &knownHostsFile{path: path, label: label}
		k.files[path] = f
	}
	return f
}

// knownHostsFile verifies host keys against one known_hosts file and
// records new ones. The parsed file is cached and re-read when it changes
// on disk, because 200 parallel dials must not parse it 200 times.
type knownHostsFile struct {
	path  string
	label string // "$DROVER_KNOWN_HOSTS" for a variable's contents; "" for a file

	mu    sync.Mutex // guards the fields below and serialises appends
	stamp fileStamp
	db    gossh.HostKeyCallback
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	exists bool
	size   int64
	mtime  time.Time
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileStamp{}, nil
	}
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{exists: true, size: fi.Size(), mtime: fi.ModTime()}, nil
}

// current returns the host-key database for the file as it is on disk now.
func (k *knownHostsFile) current() (gossh.HostKeyCallback, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := stampOf(k.path)
	if err != nil {
		return nil, err
	}
	if k.db != nil && st == k.stamp {
		return k.db, nil
	}
	db, err := parseKnownHosts(k.path, st.exists)
	if err != nil {
		return nil, err
	}
	k.db, k.stamp = db, st
	return db, nil
}

func parseKnownHosts(path string, exists bool) (gossh.HostKeyCallback, error) {
	if !exists {
		return func(string, net.Addr, gossh.PublicKey) error { return &knownhosts.KeyError{} }, nil
	}
	return knownhosts.New(path)
}

// hostKeyCheck is what one handshake needs to verify its server.
type hostKeyCheck struct {
	callback   gossh.HostKeyCallback
	algorithms []string // nil means the x/crypto default order
}

// check prepares the verification of the server at addr (host:port, as
// passed to NewClientConn). name is used in error messages.
func (k *knownHostsFile) check(name, addr string, acceptNew bool) (hostKeyCheck, error) {
	db, err := k.current()
	if err != nil {
		return hostKeyCheck{}, fmt.Errorf("known_hosts: %w", err)
	}
	cb := func(hostname string, remote net.Addr, key gossh.PublicKey) error {
		err := k.judge(name, hostname, key, db(hostname, remote, key))
		var hke *HostKeyError
		if acceptNew && errors.As(err, &hke) && hke.Kind == HostKeyUnknown {
			return k.add(name, hostname, remote, key)
		}
		return err
	}
	return hostKeyCheck{callback: cb, algorithms: hostKeyAlgorithms(knownKeyTypes(db, addr))}, nil
}

// name is the file's name for messages.
func (k *knownHostsFile) name() string {
	if k.label != "" {
		return k.label
	}
	return k.path
}

// judge turns a knownhosts verdict into our error type.
func (k *knownHostsFile) judge(name, addr string, key gossh.PublicKey, verdict error) error {
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	e := &HostKeyError{Host: name, Address: addr, Presented: describeKey(key), KnownHostsFile: k.name()}
	switch {
	case verdict == nil:
		return nil
	case errors.As(verdict, &revoked):
		e.Kind = HostKeyRevoked
	case errors.As(verdict, &keyErr) && len(keyErr.Want) == 0:
		e.Kind = HostKeyUnknown
	case errors.As(verdict, &keyErr):
		e.Kind = HostKeyMismatch
		for _, w := range keyErr.Want {
			where := tildePath(w.Filename)
			if k.label != "" {
				where = k.label
			}
			e.Expected = append(e.Expected, fmt.Sprintf("%s (%s:%d)", describeKey(w.Key), where, w.Line))
		}
	default:
		return verdict
	}
	return e
}

// add records key for addr, unless another dial or another drover process
// recorded a key for it meanwhile, in which case that key decides.
func (k *knownHostsFile) add(name, addr string, remote net.Addr, key gossh.PublicKey) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	f, err := os.OpenFile(k.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return fmt.Errorf("known_hosts: lock %s: %w", k.path, err)
	}
	defer unlockFile(f)

	db, err := knownhosts.New(k.path)
	if err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	err = k.judge(name, addr, key, db(addr, remote, key))
	var hke *HostKeyError
	if !errors.As(err, &hke) || hke.Kind != HostKeyUnknown {
		return err // known by now (nil), or mismatch/revoked
	}

	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n"
	if needsNewline(f) {
		line = "\n" + line
	}
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("known_hosts: %w", err)
	}
	k.db = nil // re-read on next use
	return nil
}

// needsNewline reports whether f is non-empty and lacks a final newline,
// as after a hand edit.
func needsNewline(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return false
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
		return false
	}
	return last[0] != '\n'
}

// describeKey renders a key as "ssh-ed25519 SHA256:...".
func describeKey(key gossh.PublicKey) string {
	return key.Type() + " " + gossh.FingerprintSHA256(key)
}
