#!/usr/bin/env bash
# Quorum commit (rep_mode=quorum) against one sync standby, on the lab
# (tests/integration/bench_lab.rs, bench_quorum): the commit latency at a
# steady load, the commit hang when a standby's node dies and when its link
# is cut, and for our agent the failover (kill -9 of the primary) and the
# primary's node crash, each on a fresh lab with fencing. Configurations
# (agent:rep_mode:nodes): ours sync and quorum on three nodes, quorum on
# five (quorum_standbys=2), the stock agent and PAF in sync mode on three.
# About an hour on 2 cores. Run as root after scripts/install-deps.sh.
#   bench/quorum.sh
# Knobs (defaults): BENCH_CONFIGS=ours:sync:3,ours:quorum:3,ours:quorum:5,stock:sync:3,paf:sync:3
#   BENCH_HANGS=3 (standby node deaths) BENCH_CUTS=1 (standby link cuts)
#   BENCH_FAILOVERS=3 BENCH_CRASHES=3 (ours only).
set -euo pipefail
cd "$(dirname "$0")/.."
# PAF's pgsqlms, for the PAF lab (not needed by the test suite).
dpkg -s resource-agents-paf >/dev/null 2>&1 || apt-get install -y -qq resource-agents-paf >/dev/null
scripts/install.sh >/dev/null
# The lab's reading of crm_mon (tools/labview).
cargo build --release --locked --quiet -p crashfs -p labview
cargo test --release --locked --test integration bench_lab::bench_quorum -- --exact --ignored --nocapture --test-threads=1
