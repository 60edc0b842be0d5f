#!/usr/bin/env bash
# The long form of the randomized fault schedules (docs/faults.md): SCHEDULES
# schedules drawn from SEED, SEED+1, ... on one lab, one after another. The
# first failure stops the run (it is a bug to look at, with its seed). Run as
# root on a machine where no other lab runs.
#   scripts/nemesis-long.sh [SCHEDULES [SEED [STEPS]]]
# NEMESIS_REP_MODE=quorum runs them in quorum mode (sync by default),
# NEMESIS_NODES=5 on a lab of five nodes (three by default).
set -euo pipefail
cd "$(dirname "$0")/.."
schedules=${1:-200}
seed=${2:-$(date +%s%3N)}
steps=${3:-3}
log=/var/tmp/rustpg-nemesis-$seed.log
mode=${NEMESIS_REP_MODE:-sync}
nodes=${NEMESIS_NODES:-3}
case $mode in
    sync) sync_schedules=$schedules quorum_schedules=0 ;;
    quorum) sync_schedules=0 quorum_schedules=$schedules ;;
    *) echo "nemesis-long: NEMESIS_REP_MODE must be sync or quorum, not '$mode'" >&2 && exit 2 ;;
esac
echo "nemesis-long: $schedules schedules of $steps faults from seed $seed in $mode mode on $nodes nodes at $(git rev-parse --short HEAD); log $log"
# the lab's disks that forget unsynced writes at a crash (tools/crashfs) and
# its reading of crm_mon (tools/labview)
cargo build --locked --release --quiet -p crashfs -p labview
start=$(date +%s)
rc=0
NEMESIS_SEED=$seed NEMESIS_SCHEDULES=$sync_schedules NEMESIS_QUORUM_SCHEDULES=$quorum_schedules \
    NEMESIS_STEPS=$steps NEMESIS_NODES=$nodes \
    cargo test --locked --release --test integration nemesis::nemesis_schedules -- --nocapture \
    >"$log" 2>&1 || rc=$?
passed=$(grep -c ': passed in ' "$log" || true)
echo "nemesis-long: $passed of $schedules schedules passed in $(( $(date +%s) - start )) s (exit $rc)"
grep -E 'LOST|two writable primaries reachable|panicked' "$log" | head -5 || true
exit "$rc"
