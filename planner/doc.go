// Package planner computes what must change on the hosts so that the
// observed containers match the desired services: drover's scheduler.
//
// Compute is a pure function of its Input: no I/O, no clock (Input.Now is
// the clock), no randomness. The same Input always yields the same Plan, so a
// plan can be shown, saved as JSON, reviewed and applied later, and tests can
// compare plans byte for byte.
//
// It gives Docker Swarm's semantics to plain containers: replicated services
// own slots 1..Replicas, global services own one slot per eligible node
// (slot = node name); placement honours constraints, spread preferences,
// max_replicas_per_node, resource reservations and host ports, and prefers
// the node with the fewest replicas of the service, then the fewest replicas
// overall, then the first name.
//
// Design choices the applier relies on:
//
//   - A replace always happens on the host of the container it replaces
//     (Action.Host == Action.Old.Host): stop the old container, start the new
//     one in the same slot there. When that host can no longer take the slot
//     (drained, constraint no longer met, the new spec does not fit, paused
//     with a container to replace), the slot moves: a "remove" on the old host
//     and a "create" elsewhere with the same Slot and From set to the old host.
//   - Container IDs are left to the applier. An action names the service and
//     slot; the applier names the container
//     Action.ContainerName(id) = STACK_SERVICE.SLOT.ID with a fresh short id,
//     so the planner needs no random source and plans stay reproducible.
//   - When several containers claim one slot (typically after a Down node comes
//     back: its replicas were re-created elsewhere meanwhile), the one kept is
//     chosen by: running and up to date on a node it may stay on (healthy
//     before unhealthy), then a completed job, then running and up to date,
//     then running but outdated, then anything else; ties go to the container
//     whose node runs fewer replicas of the service (this restores the
//     spread the outage disturbed), then to the newer container, then to the
//     smaller ID. The others are removed as duplicates.
//   - Placement is first-fit in a deterministic order: slots that already
//     have a container keep their host when they can (replace in place), then
//     global services are placed (their nodes are fixed), then replicated
//     services in name order, lowest slot first.
package planner
