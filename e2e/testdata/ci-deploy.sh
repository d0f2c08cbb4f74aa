#!/bin/sh
# ci-deploy.sh ARCHIVE COMPOSE STACK: the deploy job of docs/ci.md, as a
# script: load the image archive, plan with --detailed-exitcode, deploy,
# and show each rollout's outcome when the deploy fails. It needs nothing
# but drover (and jq, for the failure report) in PATH and the job's
# variables: DROVER_INVENTORY, DROVER_SSH_KEY, DROVER_KNOWN_HOSTS,
# DROVER_STATE_KEY.
set -eu
archive=$1 compose=$2 stack=$3

drover image load "$archive"

set +e
drover plan --detailed-exitcode -c "$compose" "$stack"
rc=$?
set -e
# 0: nothing to do; 2: changes; 3: replicas would be pending (the deploy
# does the rest, and exits 3 itself if they still are); else an error.
case $rc in
0) echo "ci: $stack is up to date"; exit 0 ;;
2 | 3) echo "ci: deploying $stack" ;;
*) echo "ci: plan failed (exit $rc)" >&2; exit "$rc" ;;
esac

set +e
drover --output json stack deploy -c "$compose" "$stack" >deploy.json
rc=$?
set -e
if [ "$rc" -ne 0 ]; then
	echo "ci: deploy failed (exit $rc); rollout outcome:" >&2
	jq -r '(.result.services // [])[] | "  \(.service): \(.state) \(.reason // "")"' deploy.json >&2
	jq -r '"  error: \(.error // "")"' deploy.json >&2
	exit "$rc"
fi
jq -r '"ci: deployed, state serial \(.serial)"' deploy.json
