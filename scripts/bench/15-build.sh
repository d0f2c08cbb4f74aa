#!/usr/bin/env bash
# 15-build.sh — `stack deploy --build` of a changed build, 3 replicas on 3
# hosts (update_config parallelism 1, monitor 1s), split into build, ship
# and rollout (drover's own log line), and the bytes sent to each host
# against `docker save` of the image. h1's engine plays the local engine
# (DOCKER_HOST). The image: FROM scratch + a 10 MiB random file + the
# test app. Two kinds of change, RUNS (3) times each:
#   env  — ENV VERSION changes: every layer is on the hosts already
#   app  — the app binary changes: its layer is new, the 10 MiB one is not
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-3}
export DOCKER_HOST=unix://$LAB_DIR/h1/docker.sock
P=$BENCH_DIR/build
rm -rf "$P" && mkdir -p "$P/web"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$P/web/app" ./internal/testapp)
head -c $((10 << 20)) /dev/urandom >"$P/web/blob"
dockerfile() { printf 'FROM scratch\nCOPY blob /blob\nCOPY app /app\nENV VERSION=%s\nENTRYPOINT ["/app"]\n' "$1" >"$P/web/Dockerfile"; }
dockerfile b0
cat >"$P/compose.yml" <<'YML'
services:
  web:
    build: ./web
    deploy: {replicas: 3, update_config: {parallelism: 1, monitor: 1s}}
YML
cleanup() {
	drover stack rm bbuild >/dev/null 2>&1 || true
	drover image prune --keep 1 >/dev/null 2>&1 || true
}
trap cleanup EXIT
drover --log-format json stack deploy --build -c "$P/compose.yml" bbuild >/dev/null 2>"$BENCH_DIR/build-first.log"
n=0
for kind in env app; do
	for i in $(seq "$RUNS"); do
		n=$((n + 1))
		if [[ $kind == env ]]; then dockerfile "b$n"; else printf 'x%d' "$n" >>"$P/web/app"; fi
		load=$(loadavg)
		start=$(date +%s%N)
		drover --log-format json stack deploy --build -c "$P/compose.yml" bbuild >/dev/null 2>"$BENCH_DIR/build-$n.log"
		total=$((($(date +%s%N) - start) / 1000000))
		t=$(grep '"build_s"' "$BENCH_DIR/build-$n.log" | jq -r '"build \(.build_s*10|round/10)s ship \(.ship_s*10|round/10)s rollout \(.rollout_s*10|round/10)s"')
		sent=$(grep '"result":"pushed"' "$BENCH_DIR/build-$n.log" | jq -r '"\(.host)=\(.bytes)B skipped=\(.layers_skipped // 0)"' | tr '\n' ' ')
		ref=$(grep '"result":"pushed"' "$BENCH_DIR/build-$n.log" | jq -r .image | head -1)
		save=$(docker save "$ref" | wc -c)
		echo "$kind run $i: total ${total}ms, $t; sent $sent; docker save ${save}B (load=$load)"
	done
done
