package engine

import (
	"context"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// watchedEvents are the container events that can change what a health
// wait sees: a start, an exit, a restart, a health status.
var watchedEvents = []string{"start", "die", "restart", "health_status", "oom", "destroy"}

// Watch follows the engine's events about some containers. The channel
// receives a value (coalesced: one pending at most) whenever one of them
// starts, dies, restarts or changes health, and is closed when the stream
// ends: ctx ended, the engine refused it, or the stream broke. It is a
// hint to look again, never the state itself: callers inspect, and keep
// polling, since events before the stream opened are not seen.
func (e *Engine) Watch(ctx context.Context, ids []string) <-chan struct{} {
	return e.API.watch(ctx, ids)
}

func (a *API) watch(ctx context.Context, ids []string) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		if _, err := a.ready(ctx); err != nil {
			return
		}
		f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
		for _, id := range ids {
			f.Add("container", id)
		}
		for _, ev := range watchedEvents {
			f.Add("event", ev)
		}
		// Its own stream, held until ctx ends, as a log follow is.
		msgs, errs := a.streams.Events(ctx, events.ListOptions{Filters: f})
		for {
			select {
			case <-msgs:
				select {
				case out <- struct{}{}:
				default:
				}
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
