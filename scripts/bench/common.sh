# common.sh — sourced by the scripts in scripts/bench/ (not run on its own).
#
# Environment (defaults):
#   LAB_DIR=/var/lib/drover-lab     the running 3-host lab (scripts/lab.sh up 3)
#   BENCH_DIR=/tmp/drover-bench     work dir: inventory copy (cluster: bench),
#                                   state file, compose files, hyperfine JSON
#   DROVER=/tmp/drover-bench        drover binary (built if missing)
#   IMAGES=/tmp/drover-bench-images output of scripts/build-test-images.sh
#                                   (built if missing)
# Every number is printed together with `cat /proc/loadavg` (the machine is
# shared): "load=<1m 5m 15m>".

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
LAB_DIR=${LAB_DIR:-/var/lib/drover-lab}
BENCH_DIR=${BENCH_DIR:-/tmp/drover-bench.d}
DROVER=${DROVER:-/tmp/drover-bench}
IMAGES=${IMAGES:-/tmp/drover-bench-images}
INV=$BENCH_DIR/inventory.yaml
LAB=$ROOT/scripts/lab.sh
export LAB_DIR

mkdir -p "$BENCH_DIR"

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

hdocker() { # hdocker hK ARGS... — the lab host's engine, from the root namespace
	local h=$1
	shift
	docker -H "unix://$LAB_DIR/$h/docker.sock" "$@"
}

ensure_drover() {
	if [[ ! -x $DROVER ]]; then
		(cd "$ROOT" && go build -o "$DROVER" .)
	fi
}

ensure_images() {
	[[ -f $IMAGES/big-v1.tar ]] || "$ROOT/scripts/build-test-images.sh" "$IMAGES" >/dev/null
}

# ensure_inventory: copy the lab's inventory to $BENCH_DIR with cluster: bench,
# so drover's labels/state never touch other users' containers.
ensure_inventory() {
	[[ -f $LAB_DIR/inventory.yaml ]] || { echo "no lab at $LAB_DIR (scripts/lab.sh up 3)" >&2; exit 1; }
	sed 's/^cluster: .*/cluster: bench/' "$LAB_DIR/inventory.yaml" >"$INV"
	grep -q '^cluster: bench$' "$INV"
}

drover() { "$DROVER" --inventory "$INV" "$@"; }

# stack6 FILE [extra service yaml lines] — one service "api", 6 replicas of
# drover-test/app:nohc; APP_X comes from ${BENCH_X:-0} (change it to force
# a rolling update).
write_stack6() {
	cat >"$1" <<'EOF'
services:
  api:
    image: drover-test/app:nohc
    environment:
      APP_X: "${BENCH_X:-0}"
    deploy:
      replicas: 6
      update_config:
        parallelism: 2
        monitor: 1s
        order: stop-first
EOF
}

# stats_ms FILE — reads one number (ms) per line; prints "median=… min=… max=… n=…"
stats_ms() {
	sort -n "$1" | awk '{a[NR]=$1} END {
		if (NR == 0) { print "n=0"; exit }
		m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
		printf "median=%.0fms min=%.0fms max=%.0fms n=%d\n", m, a[1], a[NR], NR }'
}

# hf_stats JSON — median/min/max (ms) of a hyperfine --export-json result
hf_stats() {
	jq -r '.results[] | "median=\(.median*1000|floor)ms min=\(.min*1000|floor)ms max=\(.max*1000|floor)ms mean=\(.mean*1000|floor)ms n=\(.times|length)"' "$1"
}

now_ns() { date +%s%N; }

# timed FILE CMD... — run CMD, append its wall time in ms to FILE
timed() {
	local f=$1 t0 t1
	shift
	t0=$(now_ns)
	"$@"
	t1=$(now_ns)
	echo $(((t1 - t0) / 1000000)) >>"$f"
}

report() { # report NAME STATS — one result line, with the load average
	printf '%-44s %s  load=%s\n' "$1" "$2" "$(loadavg)"
}
