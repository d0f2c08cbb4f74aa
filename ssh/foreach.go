package ssh

import (
	"context"
	"errors"

	"golang.org/x/sync/errgroup"
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
	errs := make([]error, len(names))
	var g errgroup.Group // not WithContext: one failure must not cancel the rest
	if parallel > 0 {
		g.SetLimit(parallel)
	}
	for i, name := range names {
		g.Go(func() error {
			c, err := p.Client(ctx, name)
			if err == nil {
				err = fn(ctx, name, c)
			}
			if err != nil {
				errs[i] = &HostError{Host: name, Err: err}
			}
			return nil
		})
	}
	g.Wait()
	return errors.Join(errs...)
}
