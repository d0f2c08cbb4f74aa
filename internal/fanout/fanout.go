// Package fanout runs one piece of work per host (or per item) side by
// side, bounded: the one place drover turns --parallel into goroutines.
package fanout

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// ErrNotStarted marks an item that never ran because ctx ended first.
var ErrNotStarted = errors.New("not started")

// Each calls fn for every item, at most limit at a time (limit < 1 means
// one at a time). Items are independent: a failure neither cancels nor
// delays the others. Once ctx is done no further item starts; those get
// an error matching ErrNotStarted and ctx's error.
//
// The result holds each item's error at its index (nil for success), for
// the caller to join, count or attach to its row.
func Each[T any](ctx context.Context, limit int, items []T, fn func(ctx context.Context, i int, item T) error) []error {
	errs := make([]error, len(items))
	var g errgroup.Group // not WithContext: one failure must not cancel the rest
	g.SetLimit(max(1, limit))
	for i, item := range items {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				errs[i] = fmt.Errorf("%w: %w", ErrNotStarted, err)
				return nil
			}
			errs[i] = fn(ctx, i, item)
			return nil
		})
	}
	g.Wait()
	return errs
}

// N is Each over the indexes 0..n-1.
func N(ctx context.Context, limit, n int, fn func(ctx context.Context, i int) error) []error {
	return Each(ctx, limit, make([]struct{}, n), func(ctx context.Context, i int, _ struct{}) error { return fn(ctx, i) })
}

// Started drops the errors of items that never started, for callers that
// report the stop once rather than per item.
func Started(errs []error) []error {
	out := make([]error, 0, len(errs))
	for _, err := range errs {
		if !errors.Is(err, ErrNotStarted) {
			out = append(out, err)
		}
	}
	return out
}
