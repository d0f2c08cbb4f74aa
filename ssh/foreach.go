package ssh

import (
	"context"
	"errors"

	"github.com/drover-sh/drover/internal/fanout"
)

// ForEach connects to each named host and calls fn with its client, at most
// parallel at a time (parallel <= 0: no limit). Hosts are independent: a
// failure on one neither cancels nor delays the others, and a host that
// does not answer holds its slot for at most its ConnectTimeout.
//
// The result joins one *HostError per failed host, in the order of names;
// it is nil if all succeeded.
func (p *Pool) ForEach(ctx context.Context, names []string, parallel int,
	fn func(ctx context.Context, name string, c *Client) error) error {
	limit := parallel
	if parallel <= 0 {
		limit = len(names)
	}
	errs := fanout.Each(ctx, limit, names, func(ctx context.Context, _ int, name string) error {
		c, err := p.Client(ctx, name)
		if err == nil {
			err = fn(ctx, name, c)
		}
		if err != nil {
			return &HostError{Host: name, Err: err}
		}
		return nil
	})
	for i, err := range errs {
		if errors.Is(err, fanout.ErrNotStarted) {
			errs[i] = &HostError{Host: names[i], Err: err}
		}
	}
	return errors.Join(errs...)
}
