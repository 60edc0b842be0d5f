#!/usr/bin/env bash
# Build the agent and install it as ocf:rustpg:pgsql. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
install -D -m 0755 "${CARGO_TARGET_DIR:-target}/release/pgsql" /usr/lib/ocf/resource.d/rustpg/pgsql
echo "installed /usr/lib/ocf/resource.d/rustpg/pgsql (ocf:rustpg:pgsql)"
