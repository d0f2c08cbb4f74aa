#!/usr/bin/env bash
# 04-host-down.sh — `drover reconcile` with h3 down (inventory connect_timeout
# 2s). With a 6-replica stack deployed, RUNS (3) times:
#   scripts/lab.sh stop h3   (SIGKILL: peers get "connection refused")
#   reconcile  [timed: reschedules h3's replicas onto h1/h2]
#   reconcile  [timed: no-op with h3 still down]
#   scripts/lab.sh start h3
#   reconcile  [timed: removes the surplus replicas h3 brought back]
# then once more with `cut h3` (link down: connects time out) instead of stop.
# h3 is always started/healed again (trap).
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-3}
STACK=bdown
F=$BENCH_DIR/stack6.yml
write_stack6 "$F"
restore() {
	"$LAB" heal h3 >/dev/null 2>&1 || true
	"$LAB" start h3 >/dev/null 2>&1 || true
}
trap restore EXIT
drover stack deploy -c "$F" "$STACK" >/dev/null 2>&1
A=$BENCH_DIR/down-resched.ms B=$BENCH_DIR/down-noop.ms C=$BENCH_DIR/up-again.ms
: >"$A"; : >"$B"; : >"$C"
for i in $(seq "$RUNS"); do
	"$LAB" stop h3 >/dev/null
	l=$(loadavg)
	timed "$A" drover reconcile >"$BENCH_DIR/down.out" 2>&1
	timed "$B" drover reconcile >/dev/null 2>&1
	"$LAB" start h3 >/dev/null
	timed "$C" drover reconcile >/dev/null 2>&1
	echo "run $i: stop h3 → reconcile $(tail -1 "$A") ms (reschedule), $(tail -1 "$B") ms (no-op, h3 down); start h3 → reconcile $(tail -1 "$C") ms; load=$l"
done
echo "--- output of the last reconcile with h3 down:"; cat "$BENCH_DIR/down.out"
report "reconcile, h3 stopped, reschedules 2" "$(stats_ms "$A")"
report "reconcile, h3 stopped, no-op" "$(stats_ms "$B")"
report "reconcile after start h3 (rm surplus)" "$(stats_ms "$C")"
# the timeout path: h3 unreachable, not refusing
X=$BENCH_DIR/cut.ms Y=$BENCH_DIR/cut-noop.ms
: >"$X"; : >"$Y"
"$LAB" cut h3 >/dev/null
timed "$X" drover reconcile >"$BENCH_DIR/cut.out" 2>&1
timed "$Y" drover reconcile >/dev/null 2>&1
"$LAB" heal h3 >/dev/null
drover reconcile >/dev/null 2>&1
echo "--- output of the reconcile with h3 cut:"; cat "$BENCH_DIR/cut.out"
report "reconcile, h3 cut (timeout), reschedules" "$(stats_ms "$X")"
report "reconcile, h3 cut (timeout), no-op" "$(stats_ms "$Y")"
drover stack rm "$STACK" >/dev/null 2>&1
