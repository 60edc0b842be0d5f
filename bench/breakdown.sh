#!/usr/bin/env bash
# One failover (kill -9 of the primary's postmaster) and one switchover
# (crm_resource --ban --promoted) on the three-node lab, step by step:
# Pacemaker's actions from its log and every process and step of our
# agent from its trace (`crm resource trace Postgresql <op>`, written
# under the nodes' /var/log/pacemaker/trace_ra), in ms after the fault,
# up to the first write a new primary acknowledged
# (tests/integration/bench_lab.rs). A few minutes. Run as root after
# scripts/install-deps.sh, on a machine where no other lab runs.
#   bench/breakdown.sh
# Knobs: LAB_MONITORS=1s/2s (the promoted/unpromoted monitor intervals;
#   the lab's default is 3s/4s), BENCH_FAILOVERS=1 (runs of each),
#   BENCH_SWITCHOVER=rustpgctl (the switchover through `rustpgctl
#   switchover` on the primary instead of the ban).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
cargo build --release --locked --quiet -p crashfs -p labview
cargo test --release --locked --test integration bench_lab::bench_breakdown -- --exact --ignored --nocapture --test-threads=1
