#!/usr/bin/env bash
# Our agent vs the stock ocf:heartbeat:pgsql vs PAF's ocf:heartbeat:pgsqlms
# on the three-node lab, one agent after the other in one run
# (tests/integration/bench_lab.rs): one monitor on the primary and on a
# standby, failover, switchover, the commit hang when the sync standby dies,
# promotion in an async cluster whose primary's node dies, and the primary's
# node crash with fencing. About an hour on 2 cores. Run as root after
# scripts/install-deps.sh.
#   bench/cluster.sh
# Knobs (defaults): BENCH_AGENTS=ours,stock,paf BENCH_RUNS=20 (monitors)
#   BENCH_FAILOVERS=5 (failovers and switchovers) BENCH_HANGS=3 (sync standby
#   node deaths) BENCH_CUTS=1 (sync standby link cuts) BENCH_ASYNC=3 (async
#   primary node deaths; 0 skips the async lab) BENCH_CRASHES=3 (primary
#   node crashes with fencing, ours with auto_rewind; 0 skips that lab)
#   BENCH_FAILOVER_WAIT=90 (seconds before a failover counts as never).
#   The labs fence (fence_pglab), as production does; LAB_FENCING=0 for the
#   figures without fencing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v strace >/dev/null || apt-get install -y -qq strace >/dev/null
# PAF's pgsqlms, for the PAF lab (not needed by the test suite).
dpkg -s resource-agents-paf >/dev/null 2>&1 || apt-get install -y -qq resource-agents-paf >/dev/null
scripts/install.sh >/dev/null
# The lab's disks that forget unsynced writes (tools/crashfs) and its
# reading of crm_mon (tools/labview).
cargo build --release --locked --quiet -p crashfs -p labview
cargo test --release --locked --test integration bench_lab::bench_lab -- --exact --ignored --nocapture --test-threads=1
