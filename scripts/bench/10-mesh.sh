#!/usr/bin/env bash
# 10-mesh.sh — measure the routing mesh on the lab (docs/benchmarks.md):
# wrk through the mesh, straight to one replica, and through HAProxy 2.6
# configured by hand over the same replicas; the proxy's memory per host.
#
#   LAB_DIR=… bash scripts/bench/10-mesh.sh DROVER_BIN [SECONDS]
#
# Needs a running lab (scripts/lab.sh up 3) with the test images loaded, and
# wrk and haproxy (Debian packages; installed here when missing). Every wrk
# runs inside h1's network namespace, so that all three paths cross the same
# bridge; the machine's 2 cores are shared by wrk, the proxy and the app.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:?usage: 10-mesh.sh DROVER_BIN [SECONDS]}
SECS=${2:-10}
: "${LAB_DIR:=/var/lib/drover-lab}"
export LAB_DIR
for p in wrk haproxy; do
	command -v "$p" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$p" >/dev/null
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
inv="$work/inventory.yaml"
sed 's/^cluster: .*/cluster: bench/' "$LAB_DIR/inventory.yaml" >"$inv"
cat >"$work/local.yml" <<'YML'
services:
  web:
    image: drover-test/app:nohc
    ports: ["18388:8080"]
    deploy:
      replicas: 2
      placement: {constraints: ["node.hostname == h1"]}
YML
cat >"$work/spread.yml" <<'YML'
services:
  web:
    image: drover-test/app:nohc
    ports: ["18389:8080"]
    deploy: {replicas: 5}
YML
lab() { bash scripts/lab.sh "$@"; }
d() { "$BIN" -i "$inv" --log-level warn "$@"; }
cleanup() {
	lab exec h1 sh -c 'kill $(cat '"$LAB_DIR"'/bench-haproxy.pid) 2>/dev/null' || true
	d stack rm benchl >/dev/null 2>&1 || true
	d stack rm benchs >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s.%N)
d stack deploy -c "$work/local.yml" benchl >/dev/null
echo "deploy with the proxy install: $(echo "$(date +%s.%N) - $start" | bc) s"
d stack deploy -c "$work/spread.yml" benchs >/dev/null
h1=$(awk '/name: h1/{getline; print $2}' "$inv")
ips=$(for id in $(docker -H "unix://$LAB_DIR/h1/docker.sock" ps -q --filter label=drover.stack=benchl); do
	docker -H "unix://$LAB_DIR/h1/docker.sock" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$id"
done)
one=$(echo "$ips" | head -1)
{
	echo "global"
	echo "  maxconn 4096"
	echo "  pidfile $LAB_DIR/bench-haproxy.pid"
	echo "defaults"
	echo "  mode tcp"
	echo "  timeout connect 2s"
	echo "  timeout client 30s"
	echo "  timeout server 30s"
	echo "listen web"
	echo "  bind $h1:18390"
	echo "  balance roundrobin"
	n=0
	for ip in $ips; do n=$((n + 1)); echo "  server r$n $ip:8080 check inter 400ms"; done
} >"$LAB_DIR/bench-haproxy.cfg"
lab exec h1 haproxy -D -f "$LAB_DIR/bench-haproxy.cfg"
sleep 1
run() { # NAME URL
	local out rps p50 p99
	out=$(lab exec h1 wrk -t2 -c32 -d"${SECS}s" --latency "$2")
	rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
	p50=$(echo "$out" | awk '$1=="50%"{print $2}')
	p99=$(echo "$out" | awk '$1=="99%"{print $2}')
	errs=$(echo "$out" | awk '/Socket errors|Non-2xx/{print}' | tr '\n' ' ')
	printf '%-44s %10s req/s   p50 %-8s p99 %-8s %s\n' "$1" "$rps" "$p50" "$p99" "$errs"
}
echo "wrk -t2 -c32 -d${SECS}s from h1 (keep-alive connections):"
run "one replica, direct ($one:8080)" "http://$one:8080/"
run "HAProxy 2.6 tcp on h1 (2 local replicas)" "http://$h1:18390/"
run "mesh on h1 (2 local replicas)" "http://$h1:18388/"
run "mesh on h1 (5 replicas on 3 hosts)" "http://$h1:18389/"
for h in h1 h2 h3; do
	echo "$h proxy memory: $(docker -H "unix://$LAB_DIR/$h/docker.sock" stats --no-stream --format '{{.MemUsage}}' drover-proxy)"
done
