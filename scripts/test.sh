#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests on
# real PostgreSQL 15 and 18 and real Pacemaker tools. Run as root after
# scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --locked --all-targets --quiet -- -D warnings
# A fixed seed keeps the property tests (fuzz_*) the same on every CI run;
# plain `cargo test` explores new cases each time.
PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-20261127} cargo test --locked
