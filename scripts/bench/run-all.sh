#!/usr/bin/env bash
# run-all.sh — wait for a running full test suite (wait-fulltest.sh), then run
# every benchmark in order. Output also in $BENCH_DIR/run-all.log.
set -euo pipefail
D=$(cd "$(dirname "$0")" && pwd)
source "$D/common.sh"
{
	"$D/wait-fulltest.sh"
	echo "== $(date -u +%FT%TZ) $(nproc) cores, load=$(loadavg)"
	for s in 01-node-ls 02-deploy 03-noop 04-host-down 05-image-push 06-rolling-update 07-ansible 08-gobench 09-image-load; do
		echo "== $s"
		"$D/$s.sh"
	done
} 2>&1 | tee "$BENCH_DIR/run-all.log"
