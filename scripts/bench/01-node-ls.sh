#!/usr/bin/env bash
# 01-node-ls.sh — `drover node ls` on the 3-host lab: RUNS (11) runs with
# hyperfine (1 warmup), median / min / max. For scale, the same for one
# plain OpenSSH login to h1 (`ssh h1 true`, no connection sharing) and one
# `ssh h1 docker info` (one host only; drover contacts 3 in parallel).
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-11}
drover node ls
H1=$(awk '/name: h1/{f=1} f&&/address:/{print $2; exit}' "$INV")
SSH="ssh -i $LAB_DIR/id_ed25519 -o UserKnownHostsFile=$LAB_DIR/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none root@$H1"
echo "load before: $(loadavg)"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$BENCH_DIR/node-ls.json" \
	"$DROVER --inventory $INV node ls" >"$BENCH_DIR/node-ls.hyperfine.txt"
report "node ls (3 hosts)" "$(hf_stats "$BENCH_DIR/node-ls.json")"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$BENCH_DIR/ssh-true.json" "$SSH true" >/dev/null
report "  baseline: ssh h1 true" "$(hf_stats "$BENCH_DIR/ssh-true.json")"
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$BENCH_DIR/ssh-info.json" \
	"$SSH \"docker info --format '{{json .}}'\"" >/dev/null
report "  baseline: ssh h1 docker info" "$(hf_stats "$BENCH_DIR/ssh-info.json")"
