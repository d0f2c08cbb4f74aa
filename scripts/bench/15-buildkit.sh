#!/usr/bin/env bash
# 15-buildkit.sh — `drover build` of one context with BuildKit and with
# the classic builder (DOCKER_BUILDKIT=0), cold (build.no_cache) and cached
# (the same build again), RUNS (3) times each, on the local engine (h1's,
# through DOCKER_HOST and docker.io 20.10's CLI, which has BuildKit built
# in; later CLIs need buildx for it) and on h2 (x-drover.build_on: the
# Engine API over SSH, BuildKit with a session). The context:
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
	printf 'services:\n  web:\n    build: {context: ./web, no_cache: %s}\n    x-drover: {build_on: h2}\n' "$nc" >"$P/$c-on.yml"
done
hdocker h2 image inspect drover-bench/busybox:1 >/dev/null 2>&1 || docker save drover-bench/busybox:1 | hdocker h2 load >/dev/null
cleanup() {
	for h in h1 h2; do
		hdocker $h images -q --filter label=drover.cluster=bench | xargs -r docker -H "unix://$LAB_DIR/$h/docker.sock" rmi -f >/dev/null 2>&1 || true
		hdocker $h rmi drover-bench/busybox:1 >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT
# local: h1's engine through the docker CLI; on-h2: h2's engine through
# the Engine API over SSH (build_on), the context sent from here.
for where in local on-h2; do
	sfx=
	[[ $where == on-h2 ]] && sfx=-on
	for builder in buildkit classic; do
		env=(DOCKER_BUILDKIT=1)
		[[ $builder == classic ]] && env=(DOCKER_BUILDKIT=0)
		env "${env[@]}" "$DROVER" --inventory "$INV" build -c "$P/cached$sfx.yml" --stack bbk >/dev/null 2>&1 # warm the base and the cache
		for c in cold cached; do
			for i in $(seq "$RUNS"); do
				load=$(loadavg)
				out=$(env "${env[@]}" "$DROVER" --inventory "$INV" -o json build -c "$P/$c$sfx.yml" --stack bbk 2>/dev/null)
				echo "$where $builder $c run $i: $(jq -r '.[0] | "\(.seconds*100|round/100)s builder=\(.builder) \(.image)"' <<<"$out") (load=$load)"
			done
		done
	done
done
