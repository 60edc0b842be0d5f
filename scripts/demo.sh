#!/usr/bin/env bash
# The main demo: build the Debian package and install it (ocf:rustpg:pgsql,
# rustpgctl), then bring up a three-node Pacemaker + Corosync cluster (pg01
# pg02 pg03 in private namespaces on this machine, no systemd) running
# PostgreSQL 15 with synchronous replication through it, and PgBouncer on
# every node behind its own VIP (crm-examples/cluster.crm). Ends by printing
# `crm_mon -Afr -1`. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-deb.sh
dpkg -i target/debian/rustpg_*.deb
# Waits for the full picture (primary + VIP, one sync and one async
# standby, both streaming, PgBouncer everywhere and its VIP), then prints
# crm_mon -Afr -1.
lab/cluster.sh up
cat <<'MSG'

The lab is up. Try:
    lab/cluster.sh sql "insert into probe (note) values ('hello') returning *"
    lab/cluster.sh bouncer-sql "select count(*) from probe"       # through PgBouncerVIP
    lab/cluster.sh exec pg02 rustpgctl status
    lab/cluster.sh exec pg02 rustpgctl explain pg03
    lab/cluster.sh exec pg02 rustpgctl switchover --pgbouncer
    lab/cluster.sh exec pg02 runuser -u postgres -- psql -h /run/postgresql -d lab -c 'table probe'
    lab/cluster.sh switchover
    lab/cluster.sh crash pg01; lab/cluster.sh crm_mon; lab/cluster.sh revive pg01
    lab/cluster.sh status
Tear it down with:
    lab/cluster.sh down
MSG
