package run

import (
	"context"
	"fmt"

	"github.com/drover-sh/drover/state"
)

// Record is one history entry of a commit.
type Record struct {
	Command string
	Summary string
	Result  string // "" = ok
	// Serial, when set, is the serial to write (state push sets its
	// own); 0 takes the next one.
	Serial int64
	// Write, when set, writes in place of Store.Write (a forced write).
	Write func(context.Context, *state.State) error
}

// Commit is how every changing command saves the state: the next serial,
// one history entry, written to the store (which seals the values). On success
// s.Serial is the serial written.
func (d *Deps) Commit(ctx context.Context, s *state.State, r Record) error {
	if r.Serial != 0 {
		s.Serial = r.Serial
	} else {
		s.Serial++
	}
	if r.Result == "" {
		r.Result = "ok"
	}
	// A config or secret version no kept generation mounts goes with
	// this write.
	s.ForgetUnusedVersions()
	s.AddRun(state.Run{Serial: s.Serial, Time: d.now().UTC(), User: d.User, Command: r.Command, Summary: r.Summary, Result: r.Result})
	return d.save(ctx, r.Write, s)
}

// save writes s (a state.Sealed store seals its values on the way).
func (d *Deps) save(ctx context.Context, write func(context.Context, *state.State) error, s *state.State) error {
	if write == nil {
		write = d.Store.Write
	}
	return write(ctx, s)
}

// Edit changes the state alone, nothing on the hosts: lock, read, let
// change edit it, commit. change returns the history entry (its Command
// defaults to command); an empty Summary writes nothing (e.g. there is no
// state to record in). Edit returns the state as written (or as read,
// when nothing was).
func (d *Deps) Edit(ctx context.Context, command string, change func(s *state.State) (Record, error)) (*state.State, error) {
	lk, err := d.Lock(ctx, d.Store, command)
	if err != nil {
		return nil, err
	}
	defer lk.Release(context.WithoutCancel(ctx))
	s, err := d.Read(ctx)
	if err != nil {
		return nil, err
	}
	r, err := change(s)
	if err != nil || r.Summary == "" {
		return s, err
	}
	if r.Command == "" {
		r.Command = command
	}
	if err := d.Commit(ctx, s, r); err != nil {
		return nil, fmt.Errorf("saving state to %s: %w", d.Store.Describe(), err)
	}
	return s, nil
}

// startState writes the first version of a new state, with no stacks yet
// (and the unclaimed ones), before the first run on a cluster changes
// anything. A first run killed mid-apply then leaves a state, not "no
// state", behind: the next run is not refused as if the state were lost,
// and adopts by spec hash what the killed one created.
func (d *Deps) startState(ctx context.Context, s *state.State, command string) error {
	first := state.New(s.Cluster)
	first.Lineage, first.Unclaimed = s.Lineage, s.Unclaimed
	if err := d.Commit(context.WithoutCancel(ctx), first, Record{Command: command, Summary: "state started"}); err != nil {
		return fmt.Errorf("starting the state at %s: %w", d.Store.Describe(), err)
	}
	s.Serial = first.Serial
	s.History = append([]state.Run(nil), first.History...)
	return nil
}
