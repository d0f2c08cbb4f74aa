#!/usr/bin/env bash
# 06-rolling-update.sh — rolling update of 6 replicas of drover-test/app:nohc
# (update_config: parallelism 2, monitor 1s, order stop-first; 3 batches),
# triggered by changing an env var, with drover on the 3-host lab and with
# Swarm on a separate 1-host lab, in the same run.
#
#  1. drover: deploy stack broll (APP_X=0), then RUNS (3) timed deploys with
#     APP_X=1,2,3; checks that all 6 replicas got the new value.
#  2. "replace": one docker stop + rm + create + start of a plain container on
#     h1, timed RUNS_REPLACE (5) times, (a) with the docker CLI on h1's socket
#     and (b) as one SSH round trip to h1 (as drover does it). Floor of the
#     update: 3 batches x (replace + 1 s monitor).
#  3. Swarm: `scripts/lab.sh up 1` with BENCH_LAB_* (below), load the test
#     images, swarm init, `docker service create --replicas 6
#     --update-parallelism 2 --update-delay 0s --update-monitor 1s
#     --update-order stop-first`, then RUNS timed `docker service update
#     --env-add X=i api` (blocking); checks UpdateStatus.State == completed.
#     The bench lab is torn down at the end (trap), unless BENCH_LAB_KEEP=1.
#     Offline machine: Swarm's agent tries to pull the image from Docker Hub
#     for every new task even when it is present, and here each attempt waits
#     for a DNS timeout (~10 s, serialised: the update takes ~70 s).
#     SWARM_RUNS_ASIS (1) runs are timed like that; then DNS is made to fail
#     at once inside the bench host's netns (iptables OUTPUT REJECT of port
#     53, gone with the lab) and RUNS more runs are timed: the figure used
#     for the ratio (a connected host would instead pay one registry manifest
#     request per task).
#
# BENCH_LAB_DIR=/var/lib/drover-bench-lab BENCH_LAB_SUBNET=10.80.0
# BENCH_LAB_BRIDGE=drbench0 BENCH_LAB_PREFIX=drb
# (10.79.0 is taken on this machine by another lab, drdoc0.)
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_images
ensure_inventory
RUNS=${RUNS:-3}
RUNS_REPLACE=${RUNS_REPLACE:-5}
STACK=broll
F=$BENCH_DIR/stack6.yml
write_stack6 "$F"

# ---------------------------------------------------------------- drover
BENCH_X=0 drover stack deploy -c "$F" "$STACK" >/dev/null 2>&1
D=$BENCH_DIR/roll-drover.ms
: >"$D"
for i in $(seq "$RUNS"); do
	sleep 2
	l=$(loadavg)
	BENCH_X=$i timed "$D" drover --log-format json stack deploy -c "$F" "$STACK" \
		>"$BENCH_DIR/roll-$i.out" 2>"$BENCH_DIR/roll-$i.log"
	n=0
	for h in h1 h2 h3; do
		for c in $(hdocker "$h" ps -q --filter label=drover.cluster=bench --filter "label=drover.stack=$STACK"); do
			env_=$(hdocker "$h" inspect -f "{{range .Config.Env}}{{println .}}{{end}}" "$c")
			grep -qx "APP_X=$i" <<<"$env_" && n=$((n + 1))
		done
	done
	echo "drover run $i: $(tail -1 "$D") ms, $n/6 replicas with APP_X=$i, load=$l ($(tail -1 "$BENCH_DIR/roll-$i.out"))"
	[[ $n == 6 ]] || { echo "update incomplete" >&2; exit 1; }
done
# batch timeline of the last run (from drover's JSON log)
jq -r 'select(.event=="batch" or .event=="action_done") | "    \(.time) \(.event) \(.host // "") \(.slot // "") \(.message // "")"' \
	"$BENCH_DIR/roll-$RUNS.log" 2>/dev/null || true
drover stack rm "$STACK" >/dev/null 2>&1

# ---------------------------------------------------------------- replace
R=$BENCH_DIR/replace-sock.ms S=$BENCH_DIR/replace-ssh.ms
: >"$R"; : >"$S"
RC=benchreplace
hdocker h1 rm -f $RC >/dev/null 2>&1 || true
hdocker h1 create --name $RC --restart unless-stopped drover-test/app:nohc >/dev/null
hdocker h1 start $RC >/dev/null
replace_sock() {
	hdocker h1 stop $RC >/dev/null && hdocker h1 rm $RC >/dev/null &&
		hdocker h1 create --name $RC --restart unless-stopped drover-test/app:nohc >/dev/null &&
		hdocker h1 start $RC >/dev/null
}
H1=$(awk '/name: h1/{f=1} f&&/address:/{print $2; exit}' "$INV")
SSHOPTS=(-i "$LAB_DIR/id_ed25519" -o UserKnownHostsFile="$LAB_DIR/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -o ControlMaster=no -o ControlPath=none)
replace_ssh() {
	ssh "${SSHOPTS[@]}" root@"$H1" "docker stop $RC >/dev/null && docker rm $RC >/dev/null && docker create --name $RC --restart unless-stopped drover-test/app:nohc >/dev/null && docker start $RC >/dev/null"
}
for i in $(seq "$RUNS_REPLACE"); do timed "$R" replace_sock; timed "$S" replace_ssh; done
hdocker h1 rm -f $RC >/dev/null
med() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
report "replace (stop+rm+create+start), socket" "$(stats_ms "$R")"
report "replace, one ssh round trip" "$(stats_ms "$S")"

# ---------------------------------------------------------------- swarm
BL_ENV=(LAB_DIR=${BENCH_LAB_DIR:-/var/lib/drover-bench-lab} LAB_SUBNET=${BENCH_LAB_SUBNET:-10.80.0}
	LAB_BRIDGE=${BENCH_LAB_BRIDGE:-drbench0} LAB_PREFIX=${BENCH_LAB_PREFIX:-drb})
BL_DIR=${BENCH_LAB_DIR:-/var/lib/drover-bench-lab}
BL_ADDR=${BENCH_LAB_SUBNET:-10.80.0}.11
blab() { env "${BL_ENV[@]}" "$LAB" "$@"; }
sdocker() { docker -H "unix://$BL_DIR/h1/docker.sock" "$@"; }
teardown() { [[ ${BENCH_LAB_KEEP:-0} == 1 ]] || blab down >/dev/null 2>&1 || true; }
trap teardown EXIT
blab up 1 >/dev/null 2>"$BENCH_DIR/benchlab.log" || { cat "$BENCH_DIR/benchlab.log" >&2; exit 1; }
blab load "$IMAGES/all.tar" >/dev/null
sdocker swarm leave --force >/dev/null 2>&1 || true
sdocker swarm init --advertise-addr "$BL_ADDR" >/dev/null
sdocker service create -q --name api --replicas 6 --update-parallelism 2 --update-delay 0s \
	--update-monitor 1s --update-order stop-first drover-test/app:nohc >/dev/null 2>&1
for _ in $(seq 60); do
	[[ $(sdocker service ls --filter name=api --format '{{.Replicas}}') == 6/6 ]] && break
	sleep 1
done
[[ $(sdocker service ls --filter name=api --format '{{.Replicas}}') == 6/6 ]] || { echo "swarm: api not 6/6" >&2; exit 1; }
W=$BENCH_DIR/roll-swarm.ms WI=$BENCH_DIR/roll-swarm-internal.ms
WA=$BENCH_DIR/roll-swarm-asis.ms WAI=$BENCH_DIR/roll-swarm-asis-internal.ms
: >"$W"; : >"$WI"; : >"$WA"; : >"$WAI"
x=0
swarm_update() { # swarm_update LABEL FILE_CLI FILE_INTERNAL
	x=$((x + 1))
	sleep 2
	local l st us uc
	l=$(loadavg)
	timed "$2" sdocker service update --env-add "X=$x" api >/dev/null 2>&1
	st=$(sdocker service inspect --format '{{.UpdateStatus.State}}' api)
	# Swarm's own start/completion timestamps of the update
	read -r us uc < <(sdocker service inspect api | jq -r '.[0].UpdateStatus | "\(.StartedAt) \(.CompletedAt)"')
	echo $((($(date -d "$uc" +%s%N) - $(date -d "$us" +%s%N)) / 1000000)) >>"$3"
	echo "swarm $1: $(tail -1 "$2") ms (CLI), $(tail -1 "$3") ms (UpdateStatus StartedAt→CompletedAt), state=$st, load=$l"
	[[ $st == completed ]] || { echo "swarm update state $st" >&2; exit 1; }
}
for i in $(seq "${SWARM_RUNS_ASIS:-1}"); do swarm_update "as-is run $i" "$WA" "$WAI"; done
ip netns exec "${BENCH_LAB_PREFIX:-drb}-h1" iptables -I OUTPUT -p udp --dport 53 -j REJECT
ip netns exec "${BENCH_LAB_PREFIX:-drb}-h1" iptables -I OUTPUT -p tcp --dport 53 -j REJECT --reject-with tcp-reset
for i in $(seq "$RUNS"); do swarm_update "DNS-reject run $i" "$W" "$WI"; done
report "rolling update 6 repl., drover (3 hosts)" "$(stats_ms "$D")"
report "rolling update 6 repl., swarm CLI, DNS-rej." "$(stats_ms "$W")"
report "  swarm StartedAt→CompletedAt" "$(stats_ms "$WI")"
report "  swarm as-is (pull attempts, DNS timeout)" "$(stats_ms "$WA")"
awk -v d="$(med "$D")" -v w="$(med "$W")" -v r="$(med "$R")" -v s="$(med "$S")" 'BEGIN {
	printf "floor 3 x (replace + 1000 ms): %d ms (socket replace), %d ms (ssh replace)\n", 3*(r+1000), 3*(s+1000)
	printf "drover / floor(ssh) = %.2f ; drover / swarm = %.2f\n", d/(3*(s+1000)), d/w }'
