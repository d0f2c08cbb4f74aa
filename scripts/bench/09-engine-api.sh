#!/usr/bin/env bash
# 09-engine-api.sh — the Engine API drover against the CLI-based one, in the
# same run on the 3-host lab: OLD (a drover built from the previous main,
# required) and DROVER (this tree). RUNS (11) runs each, medians:
#   node ls                  (OLD and DROVER)
#   no-op reconcile          (OLD and DROVER; 6 replicas deployed)
#   deploy of 6 replicas from nothing (RUNS_DEPLOY, 5)
#   rolling update of 6 replicas (3 batches of 2, monitor 1s, stop-first;
#   RUNS_ROLL, 3); its floor is 3 x 1 s of monitoring plus the replaces.
set -euo pipefail
source "$(dirname "$0")/common.sh"
: "${OLD:?OLD=path of a drover built from the previous main}"
ensure_drover
ensure_inventory
RUNS=${RUNS:-11}
RUNS_DEPLOY=${RUNS_DEPLOY:-5}
RUNS_ROLL=${RUNS_ROLL:-3}
F=$BENCH_DIR/stack6.yml
write_stack6 "$F"
run() { "$1" --inventory "$INV" "${@:2}"; }

loop() { # loop NAME BIN ARGS... — RUNS timed runs, reports the median
	local name=$1 bin=$2 t=$BENCH_DIR/$1.ms
	shift 2
	: >"$t"
	run "$bin" "$@" >/dev/null 2>&1 || true # warm-up
	for _ in $(seq "$RUNS"); do timed "$t" run "$bin" "$@" >/dev/null 2>&1; done
	report "$name" "$(stats_ms "$t")"
}

echo "load before: $(loadavg)"
for which in OLD DROVER; do
	bin=${!which}
	run "$bin" stack rm bapi >/dev/null 2>&1 || true
	rm -f "$BENCH_DIR"/drover.state.json*
	BENCH_X=0 run "$bin" stack deploy -c "$F" bapi >/dev/null 2>&1
	rc=0; run "$bin" reconcile --detailed-exitcode >/dev/null 2>&1 || rc=$?
	[[ $rc == 0 ]] || { echo "$which: reconcile is not a no-op (exit $rc)" >&2; exit 1; }
	loop "$which-node-ls" "$bin" node ls
	loop "$which-noop-reconcile" "$bin" reconcile

	t=$BENCH_DIR/$which-roll.ms
	: >"$t"
	for i in $(seq "$RUNS_ROLL"); do
		BENCH_X=$i timed "$t" run "$bin" stack deploy -c "$F" bapi >/dev/null 2>&1
	done
	report "$which-rolling-update-6" "$(stats_ms "$t")"

	t=$BENCH_DIR/$which-deploy.ms
	: >"$t"
	for _ in $(seq "$RUNS_DEPLOY"); do
		run "$bin" stack rm bapi >/dev/null 2>&1
		sleep 1
		BENCH_X=0 timed "$t" run "$bin" stack deploy -c "$F" bapi >/dev/null 2>&1
	done
	report "$which-deploy-6-from-nothing" "$(stats_ms "$t")"
	run "$bin" stack rm bapi >/dev/null 2>&1
done
echo "load after: $(loadavg)"
