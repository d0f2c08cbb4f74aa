#!/usr/bin/env bash
# 08-gobench.sh — the Go micro-benchmarks, once each:
#   planner   : plan 1,000 hosts x 10,000 replicas (and the no-op plan)
#   ssh       : fan-out of one command to 200 in-process SSH servers
#   reconcile : observe + plan over 200 fake hosts
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"
echo "load before: $(loadavg)"
go test -run x -bench . -benchmem ./planner/ ./ssh/ ./reconcile/ 2>&1 | tee "$BENCH_DIR/gobench.txt"
echo "load after: $(loadavg)"
