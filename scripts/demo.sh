#!/usr/bin/env bash
# The main demo: build and install ocf:rustpg:pgsql, then bring up a
# three-node Pacemaker + Corosync cluster (pg01 pg02 pg03 in private
# namespaces on this machine, no systemd) running PostgreSQL 15 with
# synchronous replication through it (crm-examples/cluster.crm). Ends by
# printing `crm_mon -Afr -1`. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# Waits for the full picture (primary + VIP, one sync and one async
# standby, both streaming), then prints crm_mon -Afr -1.
lab/cluster.sh up
cat <<'MSG'

The lab is up. Try:
    lab/cluster.sh sql "insert into probe (note) values ('hello') returning *"
    lab/cluster.sh exec pg02 runuser -u postgres -- psql -h /run/postgresql -d lab -c 'table probe'
    lab/cluster.sh switchover
    lab/cluster.sh crash pg01; lab/cluster.sh crm_mon; lab/cluster.sh revive pg01
    lab/cluster.sh status
Tear it down with:
    lab/cluster.sh down
MSG
