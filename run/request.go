package run

import (
	"context"
	"time"

	"github.com/drover-sh/drover/cluster"
	"github.com/drover-sh/drover/planner"
	"github.com/drover-sh/drover/reconcile"
	"github.com/drover-sh/drover/state"
)

// Request is one run a command asks for. The hooks are the places where a
// command, or a feature, adds its step to the transaction (see the package
// doc for their order); nil hooks are skipped.
type Request struct {
	Command string // for the audit trail and the lock
	// Scope lists the stacks the run may change; nil means the stacks the
	// state knows. AllStacks widens nil to every drover container of the
	// cluster, so containers of stacks the state does not know are removed
	// (reconcile).
	Scope     []string
	AllStacks bool
	DryRun    bool
	Quiet     bool // no Reporter.Plan when there is nothing to do
	// Timeout bounds each service's rollout (--timeout); 0 = the service's.
	Timeout time.Duration
	// UseRollbackPolicy rolls replicas with rollback_config instead of
	// update_config (service rollback).
	UseRollbackPolicy bool
	// Adopt lets a run start a new state although the hosts carry
	// containers of this cluster (stack deploy --adopt); the stacks of those
	// containers that the run does not deploy become State.Unclaimed.
	Adopt bool
	// PushLocal says the local engine's images will be pushed (stack
	// deploy --push): their platforms count for placement.
	PushLocal bool
	// ImagePlatforms are the platforms of images the run ships itself
	// (stack deploy --build: every variant of a build). They replace what
	// Deps.Platforms says of those images, and the hosts' copies of them
	// do not count: each host is sent the variant of its platform.
	ImagePlatforms map[string][]cluster.Platform
	// FixDrift and UnhealthyGrace are reconcile's healing rules.
	FixDrift       bool
	UnhealthyGrace time.Duration

	// Mutate edits the desired state and returns a summary of the edit.
	Mutate func(s *state.State) (string, error)
	// ScopeOf, when set, gives the stacks the run may change once Mutate
	// ran (the stacks of the services it named), in place of Scope.
	ScopeOf func(s *state.State) []string
	// CheckState runs on the state as read, before Mutate (apply: refuse a
	// stale saved plan). CheckPlan runs on the computed plan before anything
	// changes. SavePlan receives a dry run's plan (plan --out FILE), with
	// the lineage and serial the state had when read.
	CheckState func(s *state.State) error
	CheckPlan  func(s *state.State, p *planner.Plan) error
	SavePlan   func(lineage string, serial int64, s *state.State, w *reconcile.World, p *planner.Plan) error
	// Plan, when set, is carried out as it is (apply PLANFILE): the run
	// observes the hosts, CheckWorld refuses a cluster that moved since
	// the plan was made, and nothing is planned again.
	Plan       *planner.Plan
	CheckWorld func(w *reconcile.World) error
	// BeforeApply runs after the plan is shown and before anything
	// changes (e.g. image push).
	BeforeApply func(ctx context.Context, w *reconcile.World, p *planner.Plan) error
	// AfterApply runs after the containers (e.g. stack rm's networks) and
	// says what it changed ("" for nothing), for the run's summary.
	AfterApply func(ctx context.Context, w *reconcile.World, s *state.State) (string, error)
}

// Result is what a run did, filled as far as it got. Its JSON is the
// document a changing command prints with --output json (docs/cli.md),
// without the error and exit code, which the CLI adds.
type Result struct {
	Plan    *planner.Plan     `json:"plan"`    // null when the run stopped before planning
	Changes int               `json:"changes"` // actions in the plan
	Pending int               `json:"pending"` // replicas left pending
	Applied bool              `json:"applied"`
	Result  *reconcile.Result `json:"result,omitempty"` // each rollout's outcome
	Serial  int64             `json:"serial"`
	Down    map[string]string `json:"down_hosts,omitempty"`
	// Changed says the run changed the hosts or the desired state (a dry
	// run: would change them): --detailed-exitcode's exit 2.
	Changed bool `json:"-"`
}
