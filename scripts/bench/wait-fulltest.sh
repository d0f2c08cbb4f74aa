#!/usr/bin/env bash
# wait-fulltest.sh [LOG] [MAX_SECONDS] — wait until a running scripts/test.sh
# (logging to LOG, default /tmp/fulltest.log) has finished, i.e. LOG has a
# line starting with "exit". Polls every 30 s, at most MAX_SECONDS (1200).
# No LOG: nothing to wait for. Exit 1 on timeout.
set -euo pipefail
LOG=${1:-/tmp/fulltest.log}
MAX=${2:-1200}
[[ -f $LOG ]] || { echo "wait-fulltest: no $LOG, not waiting"; exit 0; }
start=$(date +%s)
until grep -q '^exit' "$LOG"; do
	if (($(date +%s) - start >= MAX)); then
		echo "wait-fulltest: $LOG has no 'exit' line after ${MAX}s" >&2
		exit 1
	fi
	sleep 30
done
echo "wait-fulltest: $(grep '^exit' "$LOG" | tail -1) after $(($(date +%s) - start))s; load=$(cut -d' ' -f1-3 /proc/loadavg)"
