package state

import (
	"context"
	"errors"
	"fmt"
)

// Copy reads the state from one store and writes it unchanged, serial
// included, to another: `drover state migrate`. If the target can be read
// and already holds a state, it must be of the same lineage and an older
// serial (the managers backend's Write checks this too). The caller should
// hold the locks of both stores.
func Copy(ctx context.Context, from Reader, to Writer) (*State, error) {
	s, err := from.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the state to copy: %w", err)
	}
	if r, ok := to.(Reader); ok {
		cur, err := r.Read(ctx)
		switch {
		case errors.Is(err, ErrNoState):
		case err != nil:
			return nil, fmt.Errorf("read the target's state: %w", err)
		case cur.Lineage != s.Lineage:
			return nil, fmt.Errorf("%w: the target already holds another state (lineage %s, serial %d); refusing to replace it with lineage %s",
				ErrLineageMismatch, cur.Lineage, cur.Serial, s.Lineage)
		case cur.Serial >= s.Serial:
			return nil, fmt.Errorf("%w: the target already holds serial %d of this state, the source only serial %d; nothing to copy",
				ErrStaleWrite, cur.Serial, s.Serial)
		}
	}
	if err := to.Write(ctx, s); err != nil {
		return nil, fmt.Errorf("write the copied state: %w", err)
	}
	return s, nil
}
