#!/usr/bin/env bash
# The main demo: build and install ocf:rustpg:pgsql, then bring up a one-node
# Pacemaker + Corosync cluster (private namespaces, no systemd) that runs
# PostgreSQL 15 through it. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# Prints `crm_mon -1 -Afr` once the resource is Started.
lab/single-node.sh up
cat <<'MSG'

The lab is up. Look inside with:
    lab/single-node.sh status
    lab/single-node.sh exec crm_mon -1 -Afr
    lab/single-node.sh exec runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -h /run/postgresql -c 'select 1'
Tear it down with:
    lab/single-node.sh down
MSG
