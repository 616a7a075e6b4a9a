#!/usr/bin/env bash
# `npm test`: type-check, then the suite as two jest processes at once, then lint.
#
#   lab    the suites on real lab hosts (network namespaces, sshd, rsync: every file that calls
#          describeLab), one after another: they mostly wait on the network, and two labs going
#          up and down at the same moment would share the machine-wide mount points
#          (scripts/lab/state.ts) - so never two of them at once;
#   local  everything else (the agent on local directories, units, the Pulumi mock runtime).
#
# On the 2-core CI machine the two halves take about as long as each other (7 min each one after
# the other); side by side the suite ends in about the time of one. Each line says which half
# printed it; the exit code is the first failure's. TANDEM_TEST_GROUP (jest.config.js) does the
# split; `npx jest` alone still runs everything in one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.json --noEmit
# Built once, before both halves: the ops side rebuilds dist/agent.js when it looks stale, and two
# processes must not both write it.
node scripts/build-agent.js >/dev/null

half() {
  local group=$1
  shift
  set -o pipefail
  TANDEM_TEST_GROUP=$group npx jest --runInBand "$@" 2>&1 | sed -u "s/^/[$group] /"
}
half lab "$@" &
lab=$!
half local "$@" &
local_=$!
rc_lab=0
rc_local=0
wait "$lab" || rc_lab=$?
wait "$local_" || rc_local=$?
echo "npm test: lab suites exit $rc_lab, local suites exit $rc_local"
[ "$rc_lab" = 0 ] && [ "$rc_local" = 0 ] || exit $((rc_lab ? rc_lab : rc_local))
npm run lint
