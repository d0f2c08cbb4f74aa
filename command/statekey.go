package command

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/drover-sh/drover/state"
)

// stateKey finds the key that seals environment values in the state:
// DROVER_STATE_KEY, else the inventory's state.key_file, else
// ~/.config/drover/CLUSTER.key. With create, a missing default key file is
// generated (see loadOrCreateKey: two first runs never make two keys, and
// neither reads a half-written one).
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
	if !explicit && e.home == "" {
		// A CI job without HOME: a key generated into the working
		// directory would be lost with the job, and the next one could not
		// open the state.
		if !create {
			return nil, nil
		}
		return nil, fmt.Errorf("state key: there is no HOME for ~/.config/drover/%s.key: set DROVER_STATE_KEY (the key, base64 of 32 bytes) or state.key_file in %s", e.inv.Cluster, e.inv.Path)
	}
	if !explicit {
		path = filepath.Join(e.home, ".config", "drover", e.inv.Cluster+".key")
	}
	if !create || explicit {
		k, err := readKeyFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !create:
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("state key: %w", err)
		}
		return k, nil
	}
	k, created, err := loadOrCreateKey(path)
	if err != nil {
		return nil, fmt.Errorf("state key: %w", err)
	}
	if created {
		e.log.Warn().Str("file", path).Msg("generated the key that seals environment values in the state: copy it to every machine that runs drover for this cluster (or set DROVER_STATE_KEY there)")
	}
	return k, nil
}
