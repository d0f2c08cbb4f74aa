#!/usr/bin/env bash
# build-test-images.sh OUTDIR — build drover's test images without Docker.
#
# Builds internal/testapp as a static binary and packs it, with
# internal/testimage/cmd/mkimage, into docker-archive tarballs for `docker load`
# (e.g. `scripts/lab.sh load OUTDIR/all.tar`):
#
#   app-v1.tar      drover-test/app:v1      VERSION=v1, healthcheck
#   app-v2.tar      drover-test/app:v2      VERSION=v2, healthcheck
#   app-v3-bad.tar  drover-test/app:v3-bad  VERSION=v3 FAIL_HEALTH=1, healthcheck (turns unhealthy)
#   app-crash.tar   drover-test/app:crash   CRASH=1 (exits 1 at start)
#   app-nohc.tar    drover-test/app:nohc    VERSION=v1, no healthcheck
#   all.tar         the five app images above in one tarball (one shared layer)
#   big-v1.tar      drover-test/big:v1      app + 10 MiB pseudo-random file (not in all.tar)
#   multi-v1.oci.tar  drover-test/multi:v1  OCI archive, as buildx --output type=oci writes it:
#                   linux/amd64 (app v1, VERSION=multi-v1) + linux/arm64 (same files, arm64
#                   config: for platform checks, does not run)
#   multi-big.oci.tar drover-test/multibig:v1  the same from big-v1 (transfer measurements)
#   arm-v1.tar      drover-test/arm:v1      linux/arm64 only (docker archive)
#   app386-v1.tar   drover-test/app:v1      for linux/386 (app386): a 386 lab host's app:v1
#   all386.tar      the five app images of all.tar for linux/386 (lab.sh load all386.tar h4)
#   multi386-v1.oci.tar drover-test/multi386:v1  OCI archive: linux/amd64 (app v1) + linux/386
#                   (app386 v1), both real, VERSION=multi386-v1
#   images.txt      image ID, layer bytes, tags (the 386 ones after a line "# linux/386")
#   app, app386     the static testapp binary for amd64 and 386 (GET / says its platform)
#
# The output is deterministic: the same Go toolchain gives the same image IDs.
set -euo pipefail

OUT=${1:-}
[[ -n $OUT ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

cd "$ROOT"
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64
go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$OUT/app" ./internal/testapp
GOARCH=386 go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$OUT/app386" ./internal/testapp
MK=$(mktemp -d)
trap 'rm -rf "$MK"' EXIT
go build -trimpath -buildvcs=false -o "$MK/mkimage" ./internal/testimage/cmd/mkimage
GOOS= GOARCH= go build -trimpath -buildvcs=false -o "$MK/mkoci" ./internal/testimage/cmd/mkoci

mk() { "$MK/mkimage" -binary "$OUT/app" "$@"; }
{
	mk -tag drover-test/app:v1 -env VERSION=v1 -healthcheck -o "$OUT/app-v1.tar"
	mk -tag drover-test/app:v2 -env VERSION=v2 -healthcheck -o "$OUT/app-v2.tar"
	mk -tag drover-test/app:v3-bad -env VERSION=v3 -env FAIL_HEALTH=1 -healthcheck -o "$OUT/app-v3-bad.tar"
	mk -tag drover-test/app:crash -env VERSION=crash -env CRASH=1 -o "$OUT/app-crash.tar"
	mk -tag drover-test/app:nohc -env VERSION=v1 -o "$OUT/app-nohc.tar"
	mk -tag drover-test/big:v1 -env VERSION=big-v1 -healthcheck -pad-size $((10 << 20)) -pad-seed drover-big-v1 -o "$OUT/big-v1.tar"
} >"$MK/ids"

cat >"$MK/all.json" <<EOF
[
 {"tags":["drover-test/app:v1"],"binary":"$OUT/app","env":["VERSION=v1"],"healthcheck":true},
 {"tags":["drover-test/app:v2"],"binary":"$OUT/app","env":["VERSION=v2"],"healthcheck":true},
 {"tags":["drover-test/app:v3-bad"],"binary":"$OUT/app","env":["VERSION=v3","FAIL_HEALTH=1"],"healthcheck":true},
 {"tags":["drover-test/app:crash"],"binary":"$OUT/app","env":["VERSION=crash","CRASH=1"]},
 {"tags":["drover-test/app:nohc"],"binary":"$OUT/app","env":["VERSION=v1"]}
]
EOF
"$MK/mkimage" -spec "$MK/all.json" -o "$OUT/all.tar" >"$MK/ids-all"
# The combined tarball must hold exactly the images of the single ones.
if ! diff <(grep -v drover-test/big "$MK/ids" | sort) <(sort "$MK/ids-all") >/dev/null; then
	echo "build-test-images: all.tar differs from the single tarballs" >&2
	diff <(grep -v drover-test/big "$MK/ids" | sort) <(sort "$MK/ids-all") >&2 || true
	exit 1
fi
{
	"$MK/mkoci" -from "$OUT/app-v1.tar" -name drover-test/multi:v1 -env VERSION=multi-v1 -platforms linux/amd64,linux/arm64 -o "$OUT/multi-v1.oci.tar"
	"$MK/mkoci" -from "$OUT/big-v1.tar" -name drover-test/multibig:v1 -env VERSION=multibig-v1 -platforms linux/amd64,linux/arm64 -o "$OUT/multi-big.oci.tar"
	"$MK/mkoci" -from "$OUT/app-v1.tar" -name drover-test/arm:v1 -platforms linux/arm64 -docker -o "$OUT/arm-v1.tar"
} >"$MK/ids-oci"
# A linux/386 lab host (lab.sh add h4 linux/386) gets the same images built
# from app386: same tags, same behaviour, another platform.
sed "s|\"$OUT/app\"|\"$OUT/app386\"|" "$MK/all.json" >"$MK/all386.json"
"$MK/mkimage" -spec "$MK/all386.json" -o "$OUT/all386.tar" >"$MK/ids-386"
"$MK/mkimage" -binary "$OUT/app386" -tag drover-test/app:v1 -env VERSION=v1 -healthcheck -o "$OUT/app386-v1.tar" >"$MK/ids-386-v1"
if ! grep -qxF "$(cat "$MK/ids-386-v1")" "$MK/ids-386"; then
	echo "build-test-images: app386-v1.tar is not the app:v1 of all386.tar" >&2
	exit 1
fi
"$MK/mkoci" -from "$OUT/app-v1.tar" -from "$OUT/app386-v1.tar" -name drover-test/multi386:v1 -env VERSION=multi386-v1 \
	-platforms linux/amd64,linux/386 -o "$OUT/multi386-v1.oci.tar" >>"$MK/ids-oci"
{ cat "$MK/ids"; echo "# linux/386"; cat "$MK/ids-386"; } >"$OUT/images.txt"
cat "$OUT/images.txt"
stat -c "%10s %n" "$OUT"/*.tar "$OUT/app" "$OUT/app386"
