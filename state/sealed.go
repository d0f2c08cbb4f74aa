package state

import (
	"context"
	"fmt"
)

// Sealed is a Store that keeps environment values sealed at rest: Read
// opens them, Write seals a copy, so the rest of drover works with plain
// values and spec hashes stay those of the plain spec. Everything else
// (lock, describe) is the backend's.
type Sealed struct {
	Store
	// Key finds the key. create is true for a write: the first write of a
	// cluster may generate it; a read never does (nil key: nothing sealed
	// can open).
	Key func(create bool) (*Key, error)
}

var _ Store = (*Sealed)(nil)

// Raw is the backend, whose documents hold the sealed values as stored.
func (s *Sealed) Raw() Store { return s.Store }

// Read reads the state and opens its sealed values.
func (s *Sealed) Read(ctx context.Context) (*State, error) {
	st, err := s.Store.Read(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Open(st); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Describe(), err)
	}
	return st, nil
}

// Open opens, in place, the sealed values of a document read elsewhere
// (a file given to `state push`), as Read does.
func (s *Sealed) Open(st *State) error {
	if !HasSealed(st) {
		return nil
	}
	k, err := s.Key(false)
	if err != nil {
		return err
	}
	if err := OpenEnv(st, k); err != nil {
		return fmt.Errorf("the state's environment values are sealed: %w", err)
	}
	return nil
}

// Write seals a copy of st and writes it. st keeps its plain values; the
// serial the backend wrote is copied back.
func (s *Sealed) Write(ctx context.Context, st *State) error {
	return s.write(ctx, st, s.Store.Write)
}

// ForceWriter is a backend that can supersede copies that disagree
// (Managers).
type ForceWriter interface {
	ForceWrite(ctx context.Context, s *State) error
}

// ForceWrite is the backend's ForceWrite of a sealed copy of st; false
// when the backend has none.
func (s *Sealed) ForceWrite(ctx context.Context, st *State) (bool, error) {
	fw, ok := s.Store.(ForceWriter)
	if !ok {
		return false, nil
	}
	return true, s.write(ctx, st, fw.ForceWrite)
}

func (s *Sealed) write(ctx context.Context, st *State, write func(context.Context, *State) error) error {
	k, err := s.Key(true)
	if err != nil {
		return err
	}
	sealed, err := SealEnv(st, k)
	if err != nil {
		return err
	}
	if err := write(ctx, sealed); err != nil {
		return err
	}
	st.Serial = sealed.Serial
	return nil
}
