package enginetest

import (
	"encoding/json"
	"net/http"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// The fake engine's events stream, and the journal of its changes.

// events streams container events (start, die, destroy) as they happen,
// matched against the request's filters (type, container by ID or name,
// event), until the client goes away. Health changes follow the host's
// clock without a call, so they are not sent: clients must not rely on
// events alone (neither may they on a real engine: a stream opened late
// misses what came before).
func (h *Host) events(w http.ResponseWriter, r *http.Request) {
	args, err := filters.FromJSON(r.URL.Query().Get("filters"))
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	ch := make(chan events.Message, 64)
	h.mu.Lock()
	h.subs = append(h.subs, subscriber{args: args, ch: ch})
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		for i, s := range h.subs {
			if s.ch == ch {
				h.subs = append(h.subs[:i:i], h.subs[i+1:]...)
				break
			}
		}
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	enc := json.NewEncoder(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			enc.Encode(m)
			w.(http.Flusher).Flush()
		}
	}
}

// subscriber is one open events stream.
type subscriber struct {
	args filters.Args
	ch   chan events.Message
}

// emit sends a container event to the matching streams, with h.mu held.
func (h *Host) emit(action events.Action, c *ctr) {
	m := events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: c.ID, Attributes: map[string]string{"name": c.Name, "image": c.Image}},
		Scope: "local", TimeNano: h.now().UnixNano()}
	m.Time = m.TimeNano / 1e9
	for _, s := range h.subs {
		if s.args.ExactMatch("type", string(m.Type)) && (s.args.ExactMatch("container", c.ID) || s.args.ExactMatch("container", c.Name)) &&
			s.args.FuzzyMatch("event", string(action)) {
			select {
			case s.ch <- m:
			default: // a slow reader loses events, as on a real engine
			}
		}
	}
}

// record notes a state change that succeeded, with h.mu held, and tells
// the events streams.
func (h *Host) record(args []string, container string) {
	if c := h.lookupName(container); c != nil {
		switch args[0] {
		case "start":
			h.emit(events.ActionStart, c)
			if c.State == "exited" || c.State == "restarting" {
				h.emit(events.ActionDie, c)
			}
		case "stop", "kill":
			h.emit(events.ActionDie, c)
		}
	}
	m := Mutation{Host: h.Name, Args: args, Container: container}
	if h.journal != nil {
		m.Seq = h.journal.add(m)
	} else {
		m.Seq = len(h.mutations) + 1
	}
	h.mutations = append(h.mutations, m)
}
