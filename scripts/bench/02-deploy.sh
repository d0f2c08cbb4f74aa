#!/usr/bin/env bash
# 02-deploy.sh — `drover stack deploy` of 6 replicas (drover-test/app:nohc) on
# the 3-host lab from empty; `drover stack rm` between runs (not timed).
# RUNS (5) timed runs; checks that 6 replicas run after each deploy.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-5}
STACK=bdeploy
F=$BENCH_DIR/stack6.yml
write_stack6 "$F"
T=$BENCH_DIR/deploy.ms
: >"$T"
running() {
	local n=0 h
	for h in h1 h2 h3; do
		n=$((n + $(hdocker "$h" ps -q --filter label=drover.cluster=bench --filter "label=drover.stack=$STACK" | wc -l)))
	done
	echo "$n"
}
drover stack rm "$STACK" >/dev/null 2>&1 || true
for i in $(seq "$RUNS"); do
	drover stack rm "$STACK" >/dev/null 2>&1 || true
	[[ $(running) == 0 ]] || { echo "containers left after stack rm" >&2; exit 1; }
	sleep 1
	l=$(loadavg)
	timed "$T" drover stack deploy -c "$F" "$STACK" >/dev/null 2>"$BENCH_DIR/deploy.err"
	n=$(running)
	echo "run $i: $(tail -1 "$T") ms, $n running, load=$l"
	[[ $n == 6 ]] || { echo "expected 6 running replicas, got $n" >&2; cat "$BENCH_DIR/deploy.err" >&2; exit 1; }
done
drover stack rm "$STACK" >/dev/null 2>&1
report "stack deploy 6 replicas from empty" "$(stats_ms "$T")"
