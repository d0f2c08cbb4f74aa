#!/usr/bin/env bash
# 09-image-load.sh — `drover image load multi-big.oci.tar`: a two-platform
# OCI archive (linux/amd64 + linux/arm64, ~13.6 MB, each variant app +
# 10 MiB random layer), to h1, h2 and h3, each receiving the amd64 variant.
# Before each of RUNS (3) runs the image is removed from every host (not
# timed). Baseline, same conditions: the single amd64 variant as a
# `docker save` tarball, `ssh hK docker load <FILE` to the 3 hosts in
# parallel (the time of `docker save` itself is left out, which favours
# the baseline). Bytes: what drover reports per host, against the
# tarball's size per host.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
[[ -f $IMAGES/multi-big.oci.tar ]] || "$ROOT/scripts/build-test-images.sh" "$IMAGES" >/dev/null
ensure_inventory
RUNS=${RUNS:-3}
IMG=drover-test/multibig:v1
ARCHIVE=$IMAGES/multi-big.oci.tar
HOSTS=(h1 h2 h3)
rmi_all() { for h in "${HOSTS[@]}"; do hdocker "$h" rmi "$IMG" >/dev/null 2>&1 || true; done; }
T=$BENCH_DIR/load.ms
: >"$T"
for i in $(seq "$RUNS"); do
	rmi_all
	sync; sleep 1
	l=$(loadavg)
	timed "$T" drover -o json image load "$ARCHIVE" >"$BENCH_DIR/load.json" 2>"$BENCH_DIR/load.err"
	sent=$(jq '[.[] | .bytes] | add' "$BENCH_DIR/load.json")
	echo "run $i: $(tail -1 "$T") ms, $sent bytes sent in all, load=$l"
	jq -r '.[] | "    \(.host) \(.platform) \(.result) \(.bytes) B \(.seconds)s"' "$BENCH_DIR/load.json"
	for h in "${HOSTS[@]}"; do [[ $(hdocker "$h" image inspect --format '{{.Architecture}}' "$IMG") == amd64 ]]; done
done
report "image load 2-platform archive to 3 hosts" "$(stats_ms "$T")"

# baseline: the amd64 variant alone, as `docker save` writes it (from h1,
# where the last drover run put it)
SINGLE=$BENCH_DIR/multibig-amd64.tar
hdocker h1 save "$IMG" >"$SINGLE"
echo "archive $(stat -c %s "$ARCHIVE") B; amd64 docker-save tarball $(stat -c %s "$SINGLE") B per host, $(( $(stat -c %s "$SINGLE") * 3 )) B for 3"
P=$BENCH_DIR/load-pipe.ms
: >"$P"
SSHO=(-i "$LAB_DIR/id_ed25519" -o UserKnownHostsFile="$LAB_DIR/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none)
addr() { awk -v h="$1" '$0 ~ "name: "h"$"{f=1} f&&/address:/{print $2; exit}' "$INV"; }
pipe_load() {
	local h pids=()
	for h in "${HOSTS[@]}"; do
		ssh "${SSHO[@]}" root@"$(addr "$h")" docker load -q <"$SINGLE" >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
}
for i in $(seq "$RUNS"); do
	rmi_all
	sync; sleep 1
	l=$(loadavg)
	timed "$P" pipe_load
	echo "baseline run $i: $(tail -1 "$P") ms load=$l"
	for h in "${HOSTS[@]}"; do hdocker "$h" image inspect "$IMG" >/dev/null; done
done
report "  baseline: docker save | ssh docker load x3" "$(stats_ms "$P")"
rmi_all
