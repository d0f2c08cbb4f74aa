package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/drover-sh/drover/state"
)

// stateKey finds the key that seals environment values in the state:
// DROVER_STATE_KEY, else the inventory's state.key_file, else
// ~/.config/drover/CLUSTER.key. With create, a missing default key file is
// generated (exclusively: two first runs never make two keys).
func (e *runEnv) stateKey(create bool) (*state.Key, error) {
	if v := e.stdio.Environ("DROVER_STATE_KEY"); v != "" {
		k, err := state.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("DROVER_STATE_KEY: %w", err)
		}
		return k, nil
	}
	path := e.inv.State.KeyFile
	explicit := path != ""
	if !explicit {
		path = filepath.Join(e.home, ".config", "drover", e.inv.Cluster+".key")
	}
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := state.ParseKey(string(b))
		if err != nil {
			return nil, fmt.Errorf("state key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create || explicit {
		if errors.Is(err, fs.ErrNotExist) && !create {
			return nil, nil
		}
		return nil, fmt.Errorf("state key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return e.stateKey(false)
	}
	if err != nil {
		return nil, err
	}
	key := state.GenerateKey()
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	e.log.Warn().Str("file", path).Msg("generated the key that seals environment values in the state: copy it to every machine that runs drover for this cluster (or set DROVER_STATE_KEY there)")
	return state.ParseKey(key)
}

// openState opens the sealed environment values of a state read from a store.
func (e *runEnv) openState(s *state.State) error {
	if !state.HasSealed(s) {
		return nil
	}
	k, err := e.stateKey(false)
	if err != nil {
		return err
	}
	if err := state.OpenEnv(s, k); err != nil {
		return fmt.Errorf("the state's environment values are sealed: %w", err)
	}
	return nil
}

// writeState seals the state's environment values and writes it.
func (e *runEnv) writeState(ctx context.Context, st state.Store, s *state.State) error {
	return e.writeStateWith(ctx, st.Write, s)
}

// writeStateWith is writeState through another write function.
func (e *runEnv) writeStateWith(ctx context.Context, write func(context.Context, *state.State) error, s *state.State) error {
	k, err := e.stateKey(true)
	if err != nil {
		return err
	}
	sealed, err := state.SealEnv(s, k)
	if err != nil {
		return err
	}
	if err := write(ctx, sealed); err != nil {
		return err
	}
	s.Serial = sealed.Serial
	return nil
}
