#!/usr/bin/env bash
# 11-secrets.sh — what configs and secrets add (issue 12):
#   a) `stack deploy` from empty of 3 replicas (one per host) without and
#      with 10 file secrets, RUNS times each, `stack rm` between runs;
#   b) the no-op `stack deploy` of both (every run checks each host's files);
#   c) a rotation across 6 replicas: `secret update` of one of the secrets
#      vs the same rollout made by an env change (`stack deploy` with
#      BENCH_X=i), update_config parallelism 2, monitor 1s (3 batches).
# Checks that every replica sees the rotated content.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS=${RUNS:-5}
STACK=bsec
D=$BENCH_DIR/secrets
mkdir -p "$D"
for i in $(seq 10); do printf 'bench-secret-%02d-%s' "$i" "$RANDOM" >"$D/s$i.txt"; done
write() { # write FILE REPLICAS WITH_SECRETS
	{
		echo "services:"
		echo "  api:"
		echo "    image: drover-test/app:nohc"
		echo "    environment:"
		echo "      APP_X: \"\${BENCH_X:-0}\""
		echo "    deploy:"
		echo "      replicas: $2"
		echo "      placement: {max_replicas_per_node: $(($2 / 3))}"
		echo "      update_config: {parallelism: 2, monitor: 1s, order: stop-first}"
		if [[ $3 == 1 ]]; then
			echo "    secrets: [$(seq -s, -f 's%g' 10)]"
			echo "secrets:"
			for i in $(seq 10); do echo "  s$i: {file: ./s$i.txt}"; done
		fi
	} >"$1"
}
write "$D/plain3.yml" 3 0
write "$D/sec3.yml" 3 1
write "$D/plain6.yml" 6 0
write "$D/sec6.yml" 6 1
running() {
	local n=0 h
	for h in h1 h2 h3; do
		n=$((n + $(hdocker "$h" ps -q --filter label=drover.cluster=bench --filter "label=drover.stack=$STACK" | wc -l)))
	done
	echo "$n"
}
drover stack rm "$STACK" >/dev/null 2>&1 || true

for kind in plain3 sec3; do
	T=$D/deploy-$kind.ms N=$D/noop-$kind.ms
	: >"$T"
	: >"$N"
	for i in $(seq "$RUNS"); do
		drover stack rm "$STACK" >/dev/null 2>&1 || true
		sleep 1
		l=$(loadavg)
		timed "$T" drover stack deploy -c "$D/$kind.yml" "$STACK" >/dev/null 2>"$D/err"
		[[ $(running) == 3 ]] || { echo "expected 3 replicas" >&2; cat "$D/err" >&2; exit 1; }
		timed "$N" drover stack deploy -c "$D/$kind.yml" "$STACK" >/dev/null 2>"$D/err"
		echo "$kind run $i: deploy $(tail -1 "$T") ms, no-op $(tail -1 "$N") ms, load=$l"
	done
	report "deploy 3 replicas from empty ($kind)" "$(stats_ms "$T")"
	report "no-op deploy ($kind)" "$(stats_ms "$N")"
done

# c) rotation across 6 replicas.
drover stack rm "$STACK" >/dev/null 2>&1 || true
sleep 1
drover stack deploy -c "$D/sec6.yml" "$STACK" >/dev/null 2>"$D/err"
[[ $(running) == 6 ]] || { echo "expected 6 replicas" >&2; cat "$D/err" >&2; exit 1; }
R=$D/rotate.ms E=$D/env.ms
: >"$R"
: >"$E"
for i in $(seq 3); do
	printf 'rotated-%d-%s' "$i" "$RANDOM" >"$D/new.txt"
	l=$(loadavg)
	timed "$R" drover secret update "${STACK}_s1" "$D/new.txt" >/dev/null 2>"$D/err"
	want=$(cat "$D/new.txt")
	for h in h1 h2 h3; do
		for c in $(hdocker "$h" ps -q --filter "label=drover.stack=$STACK" --filter label=drover.cluster=bench); do
			[[ $(hdocker "$h" exec "$c" /app -cat /run/secrets/s1) == "$want" ]] || { echo "replica $c on $h did not get the rotated secret" >&2; exit 1; }
		done
	done
	cp "$D/new.txt" "$D/s1.txt" # the deploy below changes only the env
	timed "$E" env BENCH_X="$i$RANDOM" "$DROVER" --inventory "$INV" stack deploy -c "$D/sec6.yml" "$STACK" >/dev/null 2>"$D/err"
	echo "rotation $i: secret update $(tail -1 "$R") ms, env rollout $(tail -1 "$E") ms, load=$l"
done
report "secret update, 6 replicas, 10 secrets" "$(stats_ms "$R")"
report "env rollout, same service (comparison)" "$(stats_ms "$E")"
drover stack rm "$STACK" >/dev/null 2>&1
