#!/usr/bin/env bash
# 07-ansible.sh — no-op convergence, drover vs Ansible, on the same 3-host lab
# in the same run.
#   drover : stack bans = 6 replicas of drover-test/app:nohc (2 per host);
#            no-op `drover reconcile`, RUNS_DROVER (11) runs with hyperfine.
#   Ansible: playbook with community.docker.docker_container, 2 named
#            containers per host (ansbench-api-hK-1/2, restart_policy
#            unless-stopped, labels, env), docker_host unix:///run/docker.sock
#            on each host over SSH; applied once, then the no-op run timed
#            RUNS_ANSIBLE (5) times with hyperfine (1 warmup), with
#            gather_facts: false, in three SSH setups:
#              default   ansible's defaults (ControlMaster=auto,
#                        ControlPersist=60s: warm connections between runs)
#              cold      ControlMaster=no (a new SSH connection per task, as
#                        drover makes new connections per run)
#              pipelining  default + pipelining=True
# Needs: apt-get install -y ansible python3-docker. Removes the ansbench-*
# containers (state: absent) and the drover stack at the end.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ensure_drover
ensure_inventory
RUNS_DROVER=${RUNS_DROVER:-11}
RUNS_ANSIBLE=${RUNS_ANSIBLE:-5}
command -v ansible-playbook >/dev/null || { echo "ansible-playbook missing (apt-get install -y ansible python3-docker)" >&2; exit 1; }
colls=$(ansible-galaxy collection list 2>/dev/null || true)
grep -q community.docker <<<"$colls" || { echo "community.docker missing" >&2; exit 1; }
A=$BENCH_DIR/ansible
mkdir -p "$A"
{
	echo "[lab]"
	awk '/- name:/{n=$3} /address:/{print n, "ansible_host=" $2}' "$INV"
	cat <<EOF2
[lab:vars]
ansible_user=root
ansible_ssh_private_key_file=$LAB_DIR/id_ed25519
ansible_ssh_common_args='-o UserKnownHostsFile=$LAB_DIR/known_hosts -o StrictHostKeyChecking=yes'
ansible_python_interpreter=/usr/bin/python3
EOF2
} >"$A/hosts.ini"
cat >"$A/ansible.cfg" <<EOF2
[defaults]
inventory = $A/hosts.ini
stdout_callback = default
retry_files_enabled = False
EOF2
cat >"$A/stack.yml" <<'EOF2'
# the equivalent of a drover stack of 6 replicas of drover-test/app:nohc
- hosts: lab
  gather_facts: false
  vars:
    state: started
  tasks:
    - name: api replicas
      community.docker.docker_container:
        docker_host: unix:///run/docker.sock
        name: "ansbench-api-{{ inventory_hostname }}-{{ item }}"
        image: drover-test/app:nohc
        state: "{{ state }}"
        restart_policy: unless-stopped
        env:
          APP_X: "0"
        labels:
          bench.stack: ansbench
          bench.service: api
          bench.slot: "{{ item }}"
      loop: ["1", "2"]
EOF2
export ANSIBLE_CONFIG=$A/ansible.cfg
cleanup() { ansible-playbook "$A/stack.yml" -e state=absent >/dev/null 2>&1 || true; }
trap cleanup EXIT
ansible-playbook "$A/stack.yml" >"$A/apply.out" 2>&1 || { cat "$A/apply.out" >&2; exit 1; }
ansible-playbook "$A/stack.yml" >"$A/noop.out" 2>&1
grep -E 'ok=|changed=' "$A/noop.out"
if grep -E 'changed=[1-9]' "$A/noop.out" >/dev/null; then echo "the ansible run is not a no-op" >&2; exit 1; fi
n=0; for h in h1 h2 h3; do n=$((n + $(hdocker "$h" ps -q --filter label=bench.stack=ansbench | wc -l))); done
echo "ansible containers running: $n"

F=$BENCH_DIR/stack6.yml
write_stack6 "$F"
drover stack deploy -c "$F" bans >/dev/null 2>&1
rc=0; drover reconcile --detailed-exitcode || rc=$?
[[ $rc == 0 ]] || { echo "reconcile is not a no-op (exit $rc)" >&2; exit 1; }
for h in h1 h2 h3; do echo "$h: drover replicas $(hdocker "$h" ps -q --filter label=drover.stack=bans | wc -l)"; done

echo "load before: $(loadavg)"
hyperfine -N --warmup 1 --runs "$RUNS_DROVER" --export-json "$BENCH_DIR/ans-drover.json" \
	"$DROVER --inventory $INV reconcile" >/dev/null
report "no-op drover reconcile (6 replicas)" "$(hf_stats "$BENCH_DIR/ans-drover.json")"
hyperfine -N --warmup 1 --runs "$RUNS_ANSIBLE" --export-json "$BENCH_DIR/ans-default.json" \
	"ansible-playbook $A/stack.yml" >/dev/null
report "no-op ansible-playbook (default ssh)" "$(hf_stats "$BENCH_DIR/ans-default.json")"
ANSIBLE_SSH_ARGS="-o ControlMaster=no" hyperfine -N --warmup 1 --runs "$RUNS_ANSIBLE" \
	--export-json "$BENCH_DIR/ans-cold.json" "ansible-playbook $A/stack.yml" >/dev/null
report "no-op ansible-playbook (ControlMaster=no)" "$(hf_stats "$BENCH_DIR/ans-cold.json")"
ANSIBLE_PIPELINING=True hyperfine -N --warmup 1 --runs "$RUNS_ANSIBLE" \
	--export-json "$BENCH_DIR/ans-pipe.json" "ansible-playbook $A/stack.yml" >/dev/null
report "no-op ansible-playbook (pipelining)" "$(hf_stats "$BENCH_DIR/ans-pipe.json")"
# drover again, to bracket the Ansible runs
hyperfine -N --warmup 1 --runs "$RUNS_DROVER" --export-json "$BENCH_DIR/ans-drover2.json" \
	"$DROVER --inventory $INV reconcile" >/dev/null
report "no-op drover reconcile (again)" "$(hf_stats "$BENCH_DIR/ans-drover2.json")"
jq -s -r '"ansible(default)/drover = \(.[1].results[0].median / .[0].results[0].median * 100 | floor / 100)  ansible(ControlMaster=no)/drover = \(.[2].results[0].median / .[0].results[0].median * 100 | floor / 100)  ansible(pipelining)/drover = \(.[3].results[0].median / .[0].results[0].median * 100 | floor / 100)  (drover: first series)"' \
	"$BENCH_DIR/ans-drover.json" "$BENCH_DIR/ans-default.json" "$BENCH_DIR/ans-cold.json" "$BENCH_DIR/ans-pipe.json"
drover stack rm bans >/dev/null 2>&1
cleanup
trap - EXIT
n=0; for h in h1 h2 h3; do n=$((n + $(hdocker "$h" ps -aq --filter label=bench.stack=ansbench | wc -l))); done
echo "ansible containers left: $n"
