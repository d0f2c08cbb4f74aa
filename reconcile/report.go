package reconcile

import (
	"time"

	"github.com/drover-sh/drover/planner"
)

// EventKind names what happened.
type EventKind string

const (
	EventHostDown     EventKind = "host_down"
	EventWarning      EventKind = "warning"
	EventPull         EventKind = "image_pull"
	EventResource     EventKind = "resource_created"
	EventActionStart  EventKind = "action_start"
	EventActionDone   EventKind = "action_done"
	EventActionFailed EventKind = "action_failed"
	EventBatch        EventKind = "batch"
	EventReplica      EventKind = "replica_state"
)

// Event is one step of progress. Fields are empty where they do not apply.
type Event struct {
	Time      time.Time    `json:"time"`
	Kind      EventKind    `json:"event"`
	Host      string       `json:"host,omitempty"`
	Service   string       `json:"service,omitempty"`
	Slot      string       `json:"slot,omitempty"`
	Container string       `json:"container,omitempty"`
	Action    planner.Kind `json:"action,omitempty"`
	Message   string       `json:"message,omitempty"`
	Err       error        `json:"-"`
}

// Reporter receives progress. Implementations must be safe for concurrent
// use: hosts report in parallel.
type Reporter interface {
	Report(Event)
}

// ReporterFunc adapts a function.
type ReporterFunc func(Event)

func (f ReporterFunc) Report(e Event) { f(e) }

// Discard drops every event.
var Discard Reporter = ReporterFunc(func(Event) {})
