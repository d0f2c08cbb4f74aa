#!/usr/bin/env bash
# 15-buildkit.sh — `drover build` of one context with the docker CLI's
# built-in BuildKit and with the classic builder (DOCKER_BUILDKIT=0), cold
# (build.no_cache) and cached (the same build again), RUNS (3) times each.
# h1's engine plays the local engine (DOCKER_HOST); the CLI is docker.io
# 20.10's (BuildKit built in; later CLIs need buildx for it). The context:
# FROM a busybox base (imported here, nothing pulled) + a 10 MiB random
# file + the test app, a RUN that digests the file, an ENV.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-3}
export DOCKER_HOST=unix://$LAB_DIR/h1/docker.sock
CLI=${BUILDKIT_CLI:-/usr/bin/docker}
DOCKER_BUILDKIT=1 "$CLI" build --help | grep -q -- --secret || { echo "$CLI has no built-in BuildKit" >&2; exit 1; }
mkdir -p "$BENCH_DIR/bkpath" && ln -sf "$CLI" "$BENCH_DIR/bkpath/docker"
export PATH=$BENCH_DIR/bkpath:$PATH
P=$BENCH_DIR/buildkit
rm -rf "$P" && mkdir -p "$P/web" "$P/root/bin" "$P/root/tmp"
cp /bin/busybox "$P/root/bin/sh"
tar -C "$P/root" -c . | docker import - drover-bench/busybox:1 >/dev/null
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$P/web/app" ./internal/testapp)
head -c $((10 << 20)) /dev/urandom >"$P/web/blob"
printf 'FROM drover-bench/busybox:1\nCOPY blob /blob\nRUN sha256sum /blob > /blob.sha256\nCOPY app /app\nENV VERSION=bk\nENTRYPOINT ["/app"]\n' >"$P/web/Dockerfile"
for c in cold cached; do
	nc=false
	[[ $c == cold ]] && nc=true
	printf 'services:\n  web:\n    build: {context: ./web, no_cache: %s}\n' "$nc" >"$P/$c.yml"
done
cleanup() {
	docker images -q --filter label=drover.cluster=bench | xargs -r docker rmi -f >/dev/null 2>&1 || true
	docker rmi drover-bench/busybox:1 >/dev/null 2>&1 || true
}
trap cleanup EXIT
for builder in buildkit classic; do
	env=()
	[[ $builder == classic ]] && env=(DOCKER_BUILDKIT=0)
	drover build -c "$P/cached.yml" --stack bbk >/dev/null 2>&1 # warm the base and the cache
	for c in cold cached; do
		for i in $(seq "$RUNS"); do
			load=$(loadavg)
			out=$(env "${env[@]}" "$DROVER" --inventory "$INV" -o json build -c "$P/$c.yml" --stack bbk 2>/dev/null)
			echo "$builder $c run $i: $(jq -r '.[0] | "\(.seconds*100|round/100)s builder=\(.builder) \(.image)"' <<<"$out") (load=$load)"
		done
	done
done
