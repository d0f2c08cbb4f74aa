#!/usr/bin/env bash
# 12-mesh-discovery.sh — how long a replaced replica takes to be reachable
# by name (docs/benchmarks.md, routing mesh follow-ups).
#
#   LAB_DIR=… bash scripts/bench/12-mesh-discovery.sh DROVER_BIN [RUNS]
#
# Deploys web (h1, h3) and db (h2, one replica, no healthcheck), then RUNS
# times: `service update --force` of db while a prober in web on h1 calls
# http://db:8080/ in a loop (`docker exec … /app -check`, 0.2–0.5 s a try);
# prints when db was unreachable and how long after the new replica's start
# (docker's StartedAt) the prober first reached it. Needs a running lab with
# the test images loaded; removes its stack at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:?usage: 12-mesh-discovery.sh DROVER_BIN [RUNS]}
RUNS=${2:-3}
: "${LAB_DIR:=/var/lib/drover-lab}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
inv="$work/inventory.yaml"
sed 's/^cluster: .*/cluster: bench/' "$LAB_DIR/inventory.yaml" >"$inv"
cat >"$work/stack.yml" <<'YML'
services:
  web:
    image: drover-test/app:nohc
    deploy:
      replicas: 2
      placement: {constraints: ["node.hostname != h2"], max_replicas_per_node: 1}
  db:
    image: drover-test/app:nohc
    ports: ["8080"]
    deploy:
      placement: {constraints: ["node.hostname == h2"]}
YML
dk() { local h=$1; shift; docker -H "unix://$LAB_DIR/$h/docker.sock" "$@"; }
"$BIN" -i "$inv" stack deploy -c "$work/stack.yml" benchdisc >/dev/null 2>"$work/deploy.log" || { cat "$work/deploy.log"; exit 1; }
web=$(dk h1 ps -q --filter label=drover.service=benchdisc_web | head -1)
for i in $(seq 1 "$RUNS"); do
	: >"$work/probe.log"
	rm -f "$work/stop"
	(while [ ! -e "$work/stop" ]; do
		if dk h1 exec "$web" /app -check http://db:8080/ >/dev/null 2>&1; then r=ok; else r=fail; fi
		echo "$(date +%s.%N) $r" >>"$work/probe.log"
	done) &
	prober=$!
	sleep 0.5
	t0=$(date +%s.%N)
	"$BIN" -i "$inv" service update --force benchdisc_db >"$work/update.log" 2>&1 || { echo "update failed"; cat "$work/update.log"; }
	t1=$(date +%s.%N)
	sleep 0.5
	touch "$work/stop"
	wait "$prober"
	db=$(dk h2 ps -q --filter label=drover.service=benchdisc_db | head -1)
	started=$(date -d "$(dk h2 inspect -f '{{.State.StartedAt}}' "$db")" +%s.%N)
	awk -v t0="$t0" -v t1="$t1" -v st="$started" -v i="$i" '
		$2 == "fail" && !ff { ff = $1 }
		$2 == "fail" { lf = $1 }
		$2 == "ok" && $1 > st && !back { back = $1 }
		END {
			if (!ff) { printf "run %d: update %.2fs, no failed probe\n", i, t1 - t0; exit }
			printf "run %d: update %.2fs; db unreachable %.2fs..%.2fs into the run; new replica started at %.2fs, reached %.2fs after its start\n", i, t1 - t0, ff - t0, lf - t0, st - t0, back - st
		}' "$work/probe.log"
done
"$BIN" -i "$inv" stack rm benchdisc >/dev/null 2>&1
