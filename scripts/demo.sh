#!/usr/bin/env bash
# demo.sh — drover on a 3-host lab on this machine (run as root on Debian).
#
#   1. scripts/lab.sh up 3: three hosts h1..h3, each its own sshd + dockerd in
#      namespaces of this machine (installs docker.io, openssh-server,
#      iproute2 … with apt-get when missing)
#   2. builds drover and the test images (needs Go, e.g. /usr/local/go/bin)
#   3. loads the images into h1 only, then `drover image push` copies them
#      over SSH to the hosts that lack them: no registry involved
#   4. node ls, plan, stack deploy of examples/demo.yml, stack ps
#   5. GETs the published port (19080) on every host
#
# Running it again is safe: the lab is reused, pushes and the deploy find
# nothing to do. Inventory, state file, binary and images stay in
# $LAB_DIR/demo/. Clean up with: scripts/lab.sh down
#
# Environment: LAB_DIR (default /var/lib/drover-lab) and the other LAB_*
# variables of scripts/lab.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=/usr/local/go/bin:$PATH:/usr/local/sbin:/usr/sbin:/sbin
export LAB_DIR=${LAB_DIR:-/var/lib/drover-lab}
LAB_DIR=${LAB_DIR%/}
DEMO=$LAB_DIR/demo
STACK=demo
COMPOSE=$ROOT/examples/demo.yml
PORT=19080

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (the lab needs namespaces, dockerd and sshd): sudo $0"
command -v go >/dev/null || die "Go not found: install Go $(sed -n 's/^go //p' go.mod) or newer (e.g. the go.dev tarball in /usr/local/go)"

step "lab: 3 hosts (scripts/lab.sh up 3)"
bash scripts/lab.sh up 3
mkdir -p "$DEMO/bin"
# lab.sh rewrites its inventory on every `up`; the demo's copy sits beside
# the demo's state file (state.path is relative to the inventory).
cp "$LAB_DIR/inventory.yaml" "$DEMO/inventory.yaml"

step "build drover and the test images"
export CGO_ENABLED=0 # static: drover is also the routing mesh's proxy
show go build -o "$DEMO/bin/drover" .
echo "$ bash scripts/build-test-images.sh $DEMO/images"
bash scripts/build-test-images.sh "$DEMO/images" >/dev/null
export PATH=$DEMO/bin:$PATH
# Every drover command below reads this inventory (same as -i FILE).
export DROVER_INVENTORY=$DEMO/inventory.yaml

step "load the images into h1 only"
bash scripts/lab.sh load "$DEMO/images/all.tar" h1

step "push them from h1's engine to the other hosts over SSH (no registry)"
# drover image push reads images from the local engine (DOCKER_HOST); here
# h1's engine plays the part of the machine you build on.
show env DOCKER_HOST="unix://$LAB_DIR/h1/docker.sock" drover image push \
	drover-test/app:v1 drover-test/app:v2 drover-test/app:v3-bad drover-test/app:nohc

step "nodes"
show drover node ls

step "plan"
show drover plan -c "$COMPOSE" "$STACK"

step "deploy"
show drover stack deploy -c "$COMPOSE" "$STACK"

step "replicas"
show drover stack ps "$STACK"

step "GET http://HOST:$PORT/ on every host"
# HTTP/1.0 GET with bash's /dev/tcp: a fresh Debian has no curl.
http_get() { # host port -> body on stdout
	local head=1 line
	exec 3<>"/dev/tcp/$1/$2" || return 1
	printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" >&3
	IFS= read -r -t 2 line <&3 || { exec 3<&-; return 1; }
	[[ $line == "HTTP/1."?" 200"* ]] || { exec 3<&-; return 1; }
	while IFS= read -r -t 2 line <&3 || [[ -n $line ]]; do
		if ((head)); then [[ $line == $'\r' || -z $line ]] && head=0; continue; fi
		printf '%s\n' "$line"
	done
	exec 3<&-
}
# shellcheck disable=SC1090
eval "$(bash scripts/lab.sh env)"
ok=0
for h in $LAB_HOSTS; do
	var=LAB_${h^^}_ADDR
	addr=${!var}
	body=
	for _ in $(seq 1 50); do
		body=$(timeout 3 bash -c "$(declare -f http_get); http_get $addr $PORT" 2>/dev/null) && [[ -n $body ]] && break
		body=
		sleep 0.2
	done
	if [[ -n $body ]]; then
		printf '%s (%s): %s\n' "$h" "$addr" "$body"
		ok=$((ok + 1))
	else
		printf '%s (%s): no answer on port %s\n' "$h" "$addr" "$PORT"
	fi
done
((ok >= 3)) || die "expected an answer from the 3 hosts running web, got $ok"

labenv=
if [[ $LAB_DIR != /var/lib/drover-lab || ${LAB_SUBNET:-10.77.0} != 10.77.0 || ${LAB_BRIDGE:-drlab0} != drlab0 || ${LAB_PREFIX:-drl} != drl ]]; then
	labenv="LAB_DIR=$LAB_DIR LAB_SUBNET=${LAB_SUBNET:-10.77.0} LAB_BRIDGE=${LAB_BRIDGE:-drlab0} LAB_PREFIX=${LAB_PREFIX:-drl} "
fi
cat <<EOF

== Done. Try (as root: the lab key and the state are root's):

  export PATH=$DEMO/bin:\$PATH DROVER_INVENTORY=$DEMO/inventory.yaml
  drover stack services $STACK
  drover service logs --tail 5 ${STACK}_web
  drover service scale ${STACK}_api=3
  sed 's#app:v1#app:v2#' $COMPOSE > /tmp/demo-v2.yml
  drover plan -c /tmp/demo-v2.yml $STACK           # what the rolling update will do
  drover stack deploy -c /tmp/demo-v2.yml $STACK   # web v1 -> v2, one replica at a time
  sed 's#app:v1#app:v3-bad#' $COMPOSE > /tmp/demo-bad.yml
  drover stack deploy -c /tmp/demo-bad.yml $STACK  # v3-bad turns unhealthy: rolled back
  drover state history
  drover stack rm --volumes $STACK

The lab:
  ${labenv}scripts/lab.sh status
  ${labenv}scripts/lab.sh exec h1 docker ps   # a command inside host h1
  ${labenv}scripts/lab.sh stop h2; drover node ls; ${labenv}scripts/lab.sh start h2

Clean up everything (lab, state, images): ${labenv}scripts/lab.sh down
EOF
