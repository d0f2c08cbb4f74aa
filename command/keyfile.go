package command

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/drover-sh/drover/state"
)

// loadOrCreateKey reads the key file at path, or, when it does not exist,
// makes a new key there. created reports whether this call made it.
//
// The file appears complete or not at all: the key is written to a
// temporary file in the same directory and fsynced, then linked to path
// (link(2) fails if path exists, unlike rename). Of two first runs racing,
// one links its file; the other's link fails and it reads the winner's,
// which is complete since it was synced before being linked. Creating path
// and then writing it would let the loser read it empty.
func loadOrCreateKey(path string) (k *state.Key, created bool, err error) {
	k, err = readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	key := state.GenerateKey()
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, false, err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.WriteString(key + "\n")
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("write state key %s: %w", tmp, err)
	}
	switch err := os.Link(tmp, path); {
	case errors.Is(err, fs.ErrExist):
		k, err := readKeyFile(path) // another run made it first
		return k, false, err
	case err != nil:
		return nil, false, fmt.Errorf("create state key %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	k, err = state.ParseKey(key)
	return k, true, err
}

// readKeyFile reads a key file; errors match fs.ErrNotExist when it is
// missing.
func readKeyFile(path string) (*state.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := state.ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
