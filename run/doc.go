// Package run is one run that may change the cluster, below the CLI: the
// transaction every changing command goes through.
//
//	Execute(ctx, Deps, Request) → *Result
//	  lock the state            (not on a dry run; a lost lock stops the run)
//	  read it                   (validated, sealed values opened)
//	  Request.CheckState        (apply: refuse a stale saved plan)
//	  Request.Mutate            (the command's edit of the desired state)
//	  observe the hosts         (reconcile.Cluster.Observe)
//	  refuse a lost state       (NoStateError; --adopt records unclaimed stacks)
//	  scope, drift, rollback-policy swap
//	  plan                      (planner.Compute; unsatisfiable new specs refused)
//	  Reporter.Plan, Request.CheckPlan
//	  dry run: Request.SavePlan, stop
//	  Request.BeforeApply       (deploy --push)
//	  Deps.Files.Deliver        (config and secret files onto the hosts)
//	  apply                     (reconcile.Cluster.Apply)
//	  Deps.Files.Prune          (files no container mounts any more)
//	  Request.AfterApply        (stack rm: networks and volumes)
//	  outcomes, history, Commit (the one state commit)
//
// A feature that adds a step to every run adds it here, between two of
// these, with its inputs on Request and what it needs from outside on Deps.
// Commands that only edit the state (lock release, node rm, state push) go
// through Edit or Commit, so that every state version is written one way:
// next serial, one history entry, sealed, written.
//
// The package never prints: a Reporter hears about progress, the plan and
// the outcome; the CLI renders them for people or as JSON.
package run
