#!/usr/bin/env bash
# test.sh — drover's whole test suite, as CI runs it (run as root on Debian):
#   go vet, unit tests with -race (no root, no network), then a 3-host lab
#   (scripts/lab.sh) plus a linux/386 host h4 (lab.sh add: for multi-platform
#   tests; not in the lab's inventory.yaml) and the end-to-end tests against
#   real sshd + dockerd.
#
# The lab used here is separate from the demo's (own LAB_DIR, subnet, bridge
# and namespace prefix), so both can run at once. It is torn down at the end
# unless KEEP_LAB=1.
#
# Environment: E2E_RUN (go test -run pattern for the e2e tests), KEEP_LAB=1,
# SKIP_E2E=1 (unit tests only), LAB_* (see scripts/lab.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=/usr/local/go/bin:$PATH:/usr/sbin:/sbin
export LAB_DIR=${LAB_DIR:-/var/lib/drover-test-lab}
export LAB_SUBNET=${LAB_SUBNET:-10.78.0}
export LAB_BRIDGE=${LAB_BRIDGE:-drtest0}
export LAB_PREFIX=${LAB_PREFIX:-drt}
step() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

# What the suite may leave behind, looked at before and after: drover's
# state keys in HOME, entries of /tmp (but the go tool's own, which it
# removes itself) and /run/lock.
leftovers() {
	{
		ls -A "$HOME/.config/drover" 2>/dev/null | sed 's|^|HOME/.config/drover/|'
		ls -A /tmp | grep -vE '^(go-build|gopls|go-link|go-tool-dist)' | sed 's|^|/tmp/|'
		ls -A /run/lock 2>/dev/null | sed 's|^|/run/lock/|'
	} | sort
}
before=$(leftovers)
images=""
lab_up=0
finish() {
	local rc=$?
	if [[ ${KEEP_LAB:-0} != 1 ]]; then
		if [[ $lab_up == 1 ]]; then
			step "test lab: down"
			bash scripts/lab.sh down || true
		fi
		[[ -n $images ]] && rm -rf "$images"
		left=$(comm -13 <(printf '%s\n' "$before") <(leftovers) | grep -v '^$' || true)
		if [[ -n $left ]]; then
			echo "the test suite left these behind (it must clean up after itself):"
			printf '  %s\n' $left
			[[ $rc == 0 ]] && rc=1
		else
			echo "nothing left behind in HOME/.config/drover, /tmp or /run/lock"
		fi
	fi
	exit "$rc"
}
trap finish EXIT

# What the tests need, on a fresh Debian machine (as root): gcc for -race;
# the lab installs docker.io, openssh-server and iproute2 itself.
if ! command -v gcc >/dev/null && [[ $(id -u) == 0 ]]; then
	step "installing gcc"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
fi

step "go vet"
go vet ./...
go vet -tags e2e ./e2e/

step "unit tests (-race)"
go test -race -count=1 ./...

if [[ ${SKIP_E2E:-0} == 1 ]]; then
	echo "SKIP_E2E=1: end-to-end tests not run"
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "the end-to-end tests need root (namespaces, dockerd, sshd): run as root or with SKIP_E2E=1" >&2
	exit 1
fi


step "test lab: 3 hosts, and h4 of linux/386"
lab_up=1
bash scripts/lab.sh up 3
# The first add on a machine installs the i386 engine (apt multiarch).
bash scripts/lab.sh add h4 linux/386
images=$(mktemp -d)
bash scripts/build-test-images.sh "$images" >/dev/null
bash scripts/lab.sh load "$images/all.tar"
bash scripts/lab.sh load "$images/all386.tar" h4
export DROVER_TEST_IMAGES=$images

step "end-to-end tests"
CGO_ENABLED=0 go build -o "$images/drover" .   # static: it is also the routing mesh proxy (docs/networking.md)
# The proxy of the linux/386 host h4 (TestMeshMixedPlatforms): not beside
# $images/drover, where drover would find it by itself (docs/networking.md).
CGO_ENABLED=0 GOOS=linux GOARCH=386 go build -o "$images/linux-386/drover" .
export DROVER_BIN_386=$images/linux-386/drover
# The drover of before the Engine API (it drove the docker CLI), for the
# upgrade test: its containers must be adopted as they are.
old_commit=dd863c80cddc36da82fea450a66cd5b40080eece
if ! git cat-file -e "$old_commit^{commit}" 2>/dev/null && git rev-parse --is-shallow-repository 2>/dev/null | grep -q true; then
	# A shallow checkout: fetch the history the upgrade test builds from.
	git fetch -q --unshallow 2>/dev/null || git fetch -q origin "$old_commit" 2>/dev/null || true
fi
if git cat-file -e "$old_commit^{commit}" 2>/dev/null; then
	git worktree add -q --detach "$images/old-src" "$old_commit"
	(cd "$images/old-src" && go build -o "$images/drover-old" .)
	git worktree remove --force "$images/old-src"
	export DROVER_OLD_BIN=$images/drover-old
else
	echo "commit $old_commit not in this clone: the upgrade test cannot run (it fails under CI=true, skips otherwise)" >&2
	export DROVER_OLD_BIN_UNAVAILABLE="commit $old_commit is not in this clone"
fi
set +e
DROVER_BIN=$images/drover go test -tags e2e -count=1 -timeout 60m -v ${E2E_RUN:+-run "$E2E_RUN"} ./e2e/ >"$images/e2e.log" 2>&1
status=$?
set -e
grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic|\s+\S+_test.go)' "$images/e2e.log" || true
if [[ $status != 0 ]]; then
	echo "e2e tests failed (exit $status); full log:"
	tail -n 400 "$images/e2e.log"
fi
step "done in $(( $(date +%s) - start ))s"
exit "$status"
