#!/usr/bin/env bash
# The cost of one monitor, stock ocf:heartbeat:pgsql vs ours, side by side
# (tests/integration/bench.rs). Run as root after scripts/install-deps.sh.
#   BENCH_RUNS=20 bench/monitor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v strace >/dev/null || apt-get install -y -qq strace >/dev/null
cargo test --release --locked --test integration bench_monitor_cost -- --ignored --nocapture --test-threads=1 2>&1 |
    grep -E '^(One monitor|\|)'
