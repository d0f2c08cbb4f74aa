#!/usr/bin/env bash
# 03-noop.sh — no-op `stack deploy` (same file again) and no-op `reconcile`
# on the 3-host lab with a 6-replica stack: RUNS (11) runs each with hyperfine
# (1 warmup). Checks first that both are no-ops (--detailed-exitcode → 0).
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-11}
STACK=bnoop
F=$BENCH_DIR/stack6.yml
write_stack6 "$F"
drover stack deploy -c "$F" "$STACK" >/dev/null 2>&1
rc=0; drover stack deploy --detailed-exitcode -c "$F" "$STACK" || rc=$?
[[ $rc == 0 ]] || { echo "redeploy is not a no-op (exit $rc)" >&2; exit 1; }
rc=0; drover reconcile --detailed-exitcode || rc=$?
[[ $rc == 0 ]] || { echo "reconcile is not a no-op (exit $rc)" >&2; exit 1; }
echo "load before: $(loadavg)"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$BENCH_DIR/noop-deploy.json" \
	"$DROVER --inventory $INV stack deploy -c $F $STACK" >"$BENCH_DIR/noop-deploy.hyperfine.txt"
report "no-op stack deploy (6 replicas, 3 hosts)" "$(hf_stats "$BENCH_DIR/noop-deploy.json")"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$BENCH_DIR/noop-reconcile.json" \
	"$DROVER --inventory $INV reconcile" >"$BENCH_DIR/noop-reconcile.hyperfine.txt"
report "no-op reconcile (6 replicas, 3 hosts)" "$(hf_stats "$BENCH_DIR/noop-reconcile.json")"
[[ ${KEEP_STACK:-0} == 1 ]] || drover stack rm "$STACK" >/dev/null 2>&1
