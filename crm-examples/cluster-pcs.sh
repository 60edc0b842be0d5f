#!/bin/bash
# The configuration of cluster.crm as pcs (0.11) commands: a three-node
# PostgreSQL cluster with synchronous replication through ocf:rustpg:pgsql.
#
#   crm-examples/cluster-pcs.sh CIB_FILE   write into a CIB file (pcs -f);
#                                          push it with `pcs cluster cib-push`
#   crm-examples/cluster-pcs.sh            change the live cluster
#
# ##########################################################################
# #   WARNING: FENCING IS DISABLED (stonith-enabled=false) HERE; the lab   #
# #   (LAB_CONFIG=pcs) adds its own fence device. NEVER RUN A REAL         #
# #   CLUSTER LIKE THIS: without fencing Pacemaker cannot safely recover   #
# #   from a node it can no longer see, and data can be lost. See          #
# #   production.crm for a configuration with a fence device.              #
# ##########################################################################
set -euo pipefail

VIP=10.213.0.200
pcs_() {
    if [[ -n ${CIB:-} ]]; then
        pcs -f "$CIB" "$@"
    else
        pcs "$@"
    fi
}
CIB=${1:-}
if [[ -n $CIB && ! -s $CIB ]]; then
    cibadmin --empty >"$CIB"
fi

pcs_ property set stonith-enabled=false no-quorum-policy=stop
pcs_ resource defaults update resource-stickiness=INFINITY migration-threshold=1 failure-timeout=10s

pcs_ resource create Postgresql ocf:rustpg:pgsql \
    rep_mode=sync node_list="pg01 pg02 pg03" master_ip=$VIP repuser=repl auto_rewind=true auto_resync=true \
    replication_hosts="pg01=10.213.0.11 pg02=10.213.0.12 pg03=10.213.0.13" \
    primary_conninfo_opt="passfile=/var/lib/postgresql/.pgpass keepalives_idle=60 keepalives_interval=5 keepalives_count=5" \
    pgctl=/usr/lib/postgresql/15/bin/pg_ctl psql=/usr/lib/postgresql/15/bin/psql \
    pgdata=/var/lib/pgsql/data tmpdir=/var/lib/pgsql/tmp socketdir=/run/postgresql \
    logfile=/var/log/postgresql/pgsql-ra.log config=/var/lib/pgsql/data/postgresql.conf \
    restart_on_promote=false \
    op start timeout=120s interval=0s on-fail=restart \
    stop timeout=120s interval=0s on-fail=block \
    promote timeout=120s interval=0s on-fail=restart \
    demote timeout=120s interval=0s on-fail=stop \
    monitor interval=4s timeout=60s on-fail=restart \
    monitor interval=3s role=Promoted timeout=60s on-fail=restart \
    notify timeout=90s interval=0s \
    promotable msPostgresql \
    promoted-max=1 promoted-node-max=1 clone-max=3 clone-node-max=1 notify=true \
    --no-default-ops

# Disabled until its constraints exist, so that a live cluster never starts
# it on a node without the primary.
pcs_ resource create PostgresqlVIP ocf:heartbeat:IPaddr2 \
    ip=$VIP cidr_netmask=24 nic=eth0 \
    op monitor interval=10s timeout=20s --no-default-ops --disabled

pcs_ constraint colocation add PostgresqlVIP with Promoted msPostgresql INFINITY
pcs_ constraint order promote msPostgresql "then" start PostgresqlVIP \
    symmetrical=false kind=Optional
pcs_ constraint order demote msPostgresql "then" stop PostgresqlVIP \
    symmetrical=false kind=Optional
pcs_ resource enable PostgresqlVIP

# PgBouncer on every node, in front of PostgresqlVIP; PgBouncerVIP stays on
# a node whose PgBouncer runs (cluster.crm says more).
pcs_ resource create PgBouncer lsb:pgbouncer \
    op monitor interval=10s timeout=20s --no-default-ops clone PgBouncerClone
pcs_ resource create PgBouncerVIP ocf:heartbeat:IPaddr2 \
    ip=10.213.0.201 cidr_netmask=24 nic=eth0 \
    op monitor interval=10s timeout=20s --no-default-ops --disabled
pcs_ constraint colocation add PgBouncerVIP with PgBouncerClone INFINITY
pcs_ resource enable PgBouncerVIP
