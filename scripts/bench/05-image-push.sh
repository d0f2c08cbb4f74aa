#!/usr/bin/env bash
# 05-image-push.sh — `drover image push drover-test/big:v1` (~17 MB tarball,
# 10 MiB random layer) from h1's engine to h2 and h3. Before each of RUNS (3)
# runs, the image is removed from h2 and h3 (not timed). Baseline, same
# conditions: `docker save | ssh hK docker load` to h2 and h3 in parallel.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_images
ensure_inventory
RUNS=${RUNS:-3}
IMG=drover-test/big:v1
"$LAB" load "$IMAGES/big-v1.tar" h1 >/dev/null
T=$BENCH_DIR/push.ms
: >"$T"
for i in $(seq "$RUNS"); do
	for h in h2 h3; do hdocker "$h" rmi "$IMG" >/dev/null 2>&1 || true; done
	for h in h2 h3; do
		if hdocker "$h" image inspect "$IMG" >/dev/null 2>&1; then echo "$IMG still on $h" >&2; exit 1; fi
	done
	sync; sleep 1
	l=$(loadavg)
	DOCKER_HOST=unix://$LAB_DIR/h1/docker.sock timed "$T" drover image push "$IMG" >"$BENCH_DIR/push.out" 2>&1
	echo "run $i: $(tail -1 "$T") ms load=$l"
	sed 's/^/    /' "$BENCH_DIR/push.out"
	for h in h2 h3; do hdocker "$h" image inspect "$IMG" >/dev/null; done
done
report "image push big:v1 to 2 hosts (3 in inv.)" "$(stats_ms "$T")"
# baseline: the plain pipe, to both hosts at once
P=$BENCH_DIR/push-pipe.ms
: >"$P"
SSHO=(-i "$LAB_DIR/id_ed25519" -o UserKnownHostsFile="$LAB_DIR/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none)
addr() { awk -v h="$1" '$0 ~ "name: "h"$"{f=1} f&&/address:/{print $2; exit}' "$INV"; }
pipe_push() {
	local h pids=()
	for h in h2 h3; do
		hdocker h1 save "$IMG" | ssh "${SSHO[@]}" root@"$(addr "$h")" docker load -q >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
}
for i in $(seq "$RUNS"); do
	for h in h2 h3; do hdocker "$h" rmi "$IMG" >/dev/null 2>&1 || true; done
	sync; sleep 1
	timed "$P" pipe_push
	for h in h2 h3; do hdocker "$h" image inspect "$IMG" >/dev/null; done
done
report "  baseline: docker save | ssh docker load x2" "$(stats_ms "$P")"
