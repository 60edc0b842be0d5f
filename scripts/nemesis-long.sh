#!/usr/bin/env bash
# The long form of the randomized fault schedules (docs/faults.md): SCHEDULES
# schedules drawn from SEED, SEED+1, ... on one lab, one after another. The
# first failure stops the run (it is a bug to look at, with its seed). Run as
# root on a machine where no other lab runs.
#   scripts/nemesis-long.sh [SCHEDULES [SEED [STEPS]]]
set -euo pipefail
cd "$(dirname "$0")/.."
schedules=${1:-200}
seed=${2:-$(date +%s%3N)}
steps=${3:-3}
log=/var/tmp/rustpg-nemesis-$seed.log
echo "nemesis-long: $schedules schedules of $steps faults from seed $seed at $(git rev-parse --short HEAD); log $log"
# the lab's disks that forget unsynced writes at a crash (tools/crashfs) and
# its reading of crm_mon (tools/labview)
cargo build --locked --release --quiet -p crashfs -p labview
start=$(date +%s)
rc=0
NEMESIS_SEED=$seed NEMESIS_SCHEDULES=$schedules NEMESIS_STEPS=$steps \
    cargo test --locked --release --test integration nemesis::nemesis_schedules -- --nocapture \
    >"$log" 2>&1 || rc=$?
passed=$(grep -c ': passed in ' "$log" || true)
echo "nemesis-long: $passed of $schedules schedules passed in $(( $(date +%s) - start )) s (exit $rc)"
grep -E 'LOST|two writable primaries reachable|panicked' "$log" | head -5 || true
exit "$rc"
