#!/usr/bin/env bash
# rustpgctl switchover --pgbouncer against a plain rustpgctl switchover, on
# the three-node lab with four clients writing through PgBouncerVIP
# (tests/integration/bench_lab.rs, bench_pgbouncer): failed client
# transactions, the longest pause clients saw, the first write on the new
# primary, acknowledged commits lost. About 5 minutes on 2 cores for the
# default 5 of each. Run as root after scripts/install-deps.sh.
#   bench/pgbouncer.sh
# Knob: BENCH_SWITCHOVERS=5 (switchovers of each kind).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh >/dev/null
cargo test --release --locked --test integration bench_lab::bench_pgbouncer -- --exact --ignored --nocapture --test-threads=1
