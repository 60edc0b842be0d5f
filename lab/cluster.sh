#!/usr/bin/env bash
# A Pacemaker + Corosync cluster of three nodes (pg01 pg02 pg03; LAB_NODES=5:
# pg01 to pg05) running PostgreSQL 15 with synchronous replication through
# ocf:rustpg:pgsql, on one machine, started by hand (no systemd) inside
# private namespaces.
#
#   lab/cluster.sh up                 build the lab, wait for the full picture
#   lab/cluster.sh down               stop everything, remove every trace
#   lab/cluster.sh status             each node's state, then crm_mon -Afr -1
#   lab/cluster.sh crm_mon            crm_mon -Afr -1 from a node that is up
#   lab/cluster.sh picture [NODE...]  true when the nodes (default: all) show
#                                     the target picture; else says what is
#                                     missing
#   lab/cluster.sh exec NODE CMD...   run a command inside a node
#   lab/cluster.sh sql SQL...         run SQL through the VIP from the client
#   lab/cluster.sh bouncer-sql SQL... the same through PgBouncerVIP:6432
#   lab/cluster.sh crash NODE         kill every process of the node at once
#                                     and remove its network namespace
#   lab/cluster.sh revive NODE        new namespaces, corosync + pacemaker
#   lab/cluster.sh fence-history      the fence daemon's log: one line per
#                                     request and per boot
#   lab/cluster.sh stack-at-boot NODE on|off
#                                     whether the node's fenced reboots
#                                     start its cluster stack (as enabling
#                                     or disabling the services would;
#                                     default LAB_FENCE_AUTOSTART)
#   lab/cluster.sh sync-disk NODE     with LAB_CRASHFS: write back what the
#                                     node's disk holds unsynced (after a
#                                     copy made with --no-sync)
#   lab/cluster.sh stop-node NODE|all clean stop of pacemaker and corosync
#                                     (all: every node at once)
#   lab/cluster.sh start-node NODE|all start corosync and pacemaker again
#   lab/cluster.sh partition NODE     cut the node's link: its veth port on
#                                     the lab's switch goes down (the node
#                                     and its processes keep running)
#   lab/cluster.sh heal NODE          bring that port up again
#   lab/cluster.sh switchover [NODE]  move the promoted role (our agent:
#                                     rustpgctl switchover; the others: a
#                                     ban, then clear)
#   lab/cluster.sh dr up|stop|start|sql SQL...
#                                     a standby outside the cluster, as a DR
#                                     site runs one: namespace dr1 (10.213.0.51),
#                                     PostgreSQL only, a base backup streaming
#                                     from the VIP as application_name dr1;
#                                     stop is immediate; sql runs on it. Name
#                                     it in external_standby_node_list
#   lab/cluster.sh rep-mode MODE      change the live cluster's rep_mode to
#                                     MODE (sync, async, quorum) as an
#                                     operator would (docs/operations.md;
#                                     Pacemaker restarts the resource), then
#                                     wait for the picture of that mode
#   lab/cluster.sh switch-provider P [crm|pcs] [--as-shipped]
#                                     change the live primitive's provider
#                                     to P (rustpg or heartbeat) with crmsh
#                                     (default) or pcs, as an operator would
#                                     (docs/migration.md: on the way back,
#                                     what the stock agent does not know is
#                                     taken out first); --as-shipped also
#                                     sets what crm-examples ship beside
#                                     the stock parameters (auto_rewind,
#                                     failure-timeout, replication_hosts)
#   lab/cluster.sh before-going-back [crm|pcs]
#                                     with the cluster still on rustpg,
#                                     remove replication_hosts and
#                                     external_standby_node_list and wait
#                                     until every standby streams from
#                                     master_ip (docs/migration.md)
#
# Environment: LAB_ROOT (state dir, default /var/tmp/rustpg-lab3), LAB_PREFIX
# (network namespace names <prefix>-pg01 ... and <prefix>-sw, default
# rustpg), LAB_UP_TIMEOUT (seconds `up` may take, default 175, 240 for the
# stock agent, 30 more per node above three), LAB_NODES (3 to 9, default 3:
# pg01, pg02, ...), LAB_AGENT (ours, stock or paf, default ours), LAB_REP_MODE
# (sync or async, default sync; quorum with LAB_AGENT=ours),
# LAB_QUORUM_STANDBYS (quorum mode's quorum_standbys, default half the
# standbys rounded down: 1 on three nodes, 2 on five; from 2 on, the
# standbys use replication slots), LAB_PG_MAJOR (10 to 18 with LAB_AGENT=ours,
# default 15: the server programs of scripts/install-pg-majors.sh; the
# client programs stay Debian's 15), LAB_FENCING (1, the default: fencing
# as in production.crm; 0: none, as cluster.crm alone), LAB_FENCE_AUTOSTART
# (1, the default: a node that fencing rebooted starts corosync and
# pacemaker, as with the services enabled at boot; 0: it boots without
# them, as PAF's documentation advises), LAB_FENCE_BOOT_DELAY (seconds
# between power off and on in a reboot, default 5), LAB_AUTO_REWIND (1,
# the default with our agent: auto_rewind=true and failure-timeout=10s as
# cluster.crm ships them; 0, the only value for the others: both taken out,
# the stock-compatible configuration), LAB_COROSYNC_TOKEN (Corosync's
# token timeout in ms, default Corosync's 3000; consensus is 1.2 times it),
# LAB_CONFIG (crm, the default, or pcs: crm-examples/cluster-pcs.sh run
# against the live cluster; only with the default agent, mode, major and
# monitors), LAB_CRASHFS (the path of tools/crashfs's binary: every node's
# /var/lib/pgsql goes through it, so a crashed node loses what PostgreSQL
# had not synced, as a power loss would; default: none). A lab keeps the
# settings it was made with.
# LAB_SWITCHOVER_TIMEOUT (seconds `switchover` waits for the roles to move,
# default 120), LAB_VIEW (tools/labview's binary, which reads crm_mon;
# default: built here on first use) and LAB_RUSTPGCTL (the rustpgctl that
# `switchover` runs; default: the installed one, else built here) are read
# by each command. Run as root.
#
# Every lab loads LAB_ROOT/cluster.crm: crm-examples/cluster.crm with, for
# LAB_REP_MODE=async, rep_mode=async (quorum: rep_mode=quorum, with
# quorum_standbys and, from 2 on, replication_slot_name=lab), for more
# nodes their names in node_list, clone-max and the fence device's host
# list, for LAB_MONITORS=1s/2s those monitor
# intervals (promoted/unpromoted), and for another agent only the
# Postgresql primitive changed (the clone, VIP, constraints, properties,
# operations and their intervals stay the same, so that differences measured
# come from the agents):
#
# LAB_AGENT=stock: the stock ocf:heartbeat:pgsql, only the provider
# changed; each node bind-mounts, in its own mount namespace, a copy of
# ocf-shellfuncs whose ocf_promotion_score runs `crm_attribute "$@" -p`
# (Pacemaker 2.1.5 reads `crm_attribute -p -v -INFINITY` as options,
# CLBZ#5509; the stock agent then loops until its start times out). Its
# picture differs in the third node: HS:async / STREAMING|ASYNC
# (docs/compatibility.md R1).
#
# LAB_AGENT=paf: PAF's ocf:heartbeat:pgsqlms (package resource-agents-paf)
# with bindir, pgdata, pghost, pgport. PAF does not write the standby
# configuration: each node's lab-node.conf holds primary_conninfo (the VIP,
# application_name=<node>) and recovery_target_timeline, and in sync mode
# the static synchronous_standby_names = 'FIRST 1 (pg01, pg02, pg03)' (the
# closest PAF set-up to one sync + one potential standby). PAF publishes no
# <rsc>-status attributes: its picture is the roles, the VIP, a promotion
# score on every node and pg_stat_replication read through the VIP.
#
# Network: the switch namespace <prefix>-sw holds the bridge br0 with the
# client address 10.213.0.100; each node's eth0 (10.213.0.11, .12, ...; /24) is a veth
# whose other end is a port of that bridge. No namespace has a default
# route, there is no NAT and nothing is linked to a real interface; the root
# namespace gets no interface, address or route.
#
# A node is its network namespace plus a holder process with private mounts
# of the directories under LAB_ROOT/nodes/<node> (lab/common.sh, shared with
# lab/single-node.sh).
#
# Fencing (LAB_FENCING=1): the cluster configuration gets stonith-enabled=true
# and crm-examples/lab-fencing.crm's device, stonith:fence_pglab (lab/
# fence_pglab, which each node finds in its /usr/sbin through a node-private
# overlay; the host's /usr/sbin is untouched). The agent writes its request
# into LAB_ROOT/fence/requests (the node's /run/fence_pglab); the lab's fence
# daemon, a host process started by `up` and stopped by `down`, powers the
# node off (as `crash`) and on (as `revive`), and logs every request and
# boot in LAB_ROOT/fence/history.
set -euo pipefail

LAB_ROOT=${LAB_ROOT:-/var/tmp/rustpg-lab3}
PREFIX=${LAB_PREFIX:-rustpg}
LAB_AGENT=${LAB_AGENT:-ours}
LAB_REP_MODE=${LAB_REP_MODE:-sync}
ASKED_AGENT=$LAB_AGENT
ASKED_REP_MODE=$LAB_REP_MODE
LAB_PG_MAJOR=${LAB_PG_MAJOR:-15}
ASKED_PG_MAJOR=$LAB_PG_MAJOR
LAB_FENCING=${LAB_FENCING:-1}
# "default": as crm-examples/cluster.crm ships it for our agent (1), the
# stock-compatible configuration for the others (0).
LAB_AUTO_REWIND=${LAB_AUTO_REWIND:-default}
LAB_CONFIG=${LAB_CONFIG:-crm}
# Seconds `switchover` waits for the roles to move (then 60 more for the
# full picture).
SWITCHOVER_TIMEOUT=${LAB_SWITCHOVER_TIMEOUT:-120}
LAB_FENCE_AUTOSTART=${LAB_FENCE_AUTOSTART:-1}
LAB_FENCE_BOOT_DELAY=${LAB_FENCE_BOOT_DELAY:-5}
LAB_CRASHFS=${LAB_CRASHFS:--}
ASKED_SETTINGS="$LAB_FENCING $LAB_AUTO_REWIND $LAB_CONFIG $LAB_FENCE_AUTOSTART $LAB_FENCE_BOOT_DELAY $LAB_CRASHFS"
LAB_NODES=${LAB_NODES:-3}
# "default": half the standbys, rounded down (1 on three nodes, 2 on five).
LAB_QUORUM_STANDBYS=${LAB_QUORUM_STANDBYS:-default}
ASKED_SHAPE="$LAB_NODES $LAB_QUORUM_STANDBYS"
NODES=()
NET=10.213.0
VIP=$NET.200
BOUNCER_VIP=$NET.201
CLIENT_IP=$NET.100
# Client programs (psql, pg_basebackup without -R work against 10 to 18).
PG_BIN=/usr/lib/postgresql/15/bin
AGENT=/usr/lib/ocf/resource.d/rustpg/pgsql
STOCK_AGENT=/usr/lib/ocf/resource.d/heartbeat/pgsql
PAF_AGENT=/usr/lib/ocf/resource.d/heartbeat/pgsqlms
SHELLFUNCS=/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs
SELF=$(readlink -f "$0")
CRM_FILE=$(readlink -f "$(dirname "$SELF")/../crm-examples/cluster.crm")
PCS_SCRIPT=$(readlink -f "$(dirname "$SELF")/../crm-examples/cluster-pcs.sh")
FENCING_CRM=$(readlink -f "$(dirname "$SELF")/../crm-examples/lab-fencing.crm")
BOUNCER_INI=$(readlink -f "$(dirname "$SELF")/../crm-examples/pgbouncer.ini")
FENCE_AGENT=$(dirname "$SELF")/fence_pglab
MARKER=.rustpg-lab3  # only a dir holding this file is ever removed by down

LAB_NAME=cluster
# shellcheck source=lab/common.sh
. "$(dirname "$SELF")/common.sh"

check_names() {
    [[ $LAB_ROOT == /* ]] || die "LAB_ROOT must be an absolute path: $LAB_ROOT"
    # One spelling per lab: the holders are recognised by this exact path.
    LAB_ROOT=$(realpath -m -- "$LAB_ROOT")
    [[ $LAB_ROOT =~ ^/[^/]+/. ]] || die "LAB_ROOT must be at least two levels deep: $LAB_ROOT"
    # A lab keeps the prefix, agent and replication mode it was made with.
    if [[ -f $LAB_ROOT/prefix ]]; then
        PREFIX=$(cat "$LAB_ROOT/prefix")
    fi
    if [[ -f $LAB_ROOT/agent ]]; then
        read -r LAB_AGENT LAB_REP_MODE LAB_PG_MAJOR <"$LAB_ROOT/agent"
        LAB_PG_MAJOR=${LAB_PG_MAJOR:-15}
    fi
    if [[ -f $LAB_ROOT/settings ]]; then
        read -r LAB_FENCING LAB_AUTO_REWIND LAB_CONFIG LAB_FENCE_AUTOSTART LAB_FENCE_BOOT_DELAY \
            LAB_CRASHFS <"$LAB_ROOT/settings"
        LAB_CRASHFS=${LAB_CRASHFS:--}
    fi
    # The number of nodes and quorum_standbys (a lab made before they were
    # kept has three nodes).
    if [[ -f $LAB_ROOT/shape ]]; then
        read -r LAB_NODES LAB_QUORUM_STANDBYS <"$LAB_ROOT/shape"
    elif [[ -f $LAB_ROOT/agent ]]; then
        LAB_NODES=3 LAB_QUORUM_STANDBYS=default
    fi
    [[ $LAB_NODES =~ ^[3-9]$ ]] || die "LAB_NODES must be 3 to 9, not '$LAB_NODES'"
    NODES=()
    local i
    for ((i = 1; i <= LAB_NODES; i++)); do
        NODES+=("$(printf 'pg%02d' "$i")")
    done
    [[ $LAB_QUORUM_STANDBYS != default ]] || LAB_QUORUM_STANDBYS=$(((LAB_NODES - 1) / 2))
    [[ $LAB_QUORUM_STANDBYS =~ ^[1-9]$ ]] && ((LAB_QUORUM_STANDBYS < LAB_NODES)) \
        || die "LAB_QUORUM_STANDBYS must be 1 to $((LAB_NODES - 1)) (the standbys), not '$LAB_QUORUM_STANDBYS'"
    case $LAB_AGENT in
        ours | paf) UP_TIMEOUT=${LAB_UP_TIMEOUT:-$((175 + 30 * (LAB_NODES - 3)))} ;;
        # The stock agent promotes after xlog_check_count unchanged monitor
        # rounds, and its monitors are slow.
        stock) UP_TIMEOUT=${LAB_UP_TIMEOUT:-$((240 + 30 * (LAB_NODES - 3)))} ;;
        *) die "LAB_AGENT must be ours, stock or paf, not '$LAB_AGENT'" ;;
    esac
    [[ $LAB_REP_MODE == sync || $LAB_REP_MODE == async || $LAB_REP_MODE == quorum ]] \
        || die "LAB_REP_MODE must be sync, async or quorum, not '$LAB_REP_MODE'"
    [[ $LAB_REP_MODE != quorum || $LAB_AGENT == ours ]] \
        || die "LAB_REP_MODE=quorum: only with LAB_AGENT=ours (the mode is not in the stock agent)"
    [[ $LAB_PG_MAJOR =~ ^(1[0-8])$ ]] || die "LAB_PG_MAJOR must be 10 to 18, not '$LAB_PG_MAJOR'"
    [[ $LAB_PG_MAJOR == 15 || $LAB_AGENT == ours ]] \
        || die "LAB_PG_MAJOR=$LAB_PG_MAJOR: only with LAB_AGENT=ours (the others run 15)"
    # Server programs (initdb, pg_ctl, postgres) of the lab's major.
    if [[ $LAB_PG_MAJOR == 15 ]]; then
        PG_SERVER_BIN=$PG_BIN
    else
        PG_SERVER_BIN=/opt/rustpg/pg$LAB_PG_MAJOR/bin
    fi
    [[ $LAB_FENCING =~ ^[01]$ ]] || die "LAB_FENCING must be 1 or 0, not '$LAB_FENCING'"
    [[ $LAB_FENCE_AUTOSTART =~ ^[01]$ ]] || die "LAB_FENCE_AUTOSTART must be 1 or 0, not '$LAB_FENCE_AUTOSTART'"
    [[ $LAB_FENCE_BOOT_DELAY =~ ^[0-9]{1,3}$ ]] \
        || die "LAB_FENCE_BOOT_DELAY must be a number of seconds, not '$LAB_FENCE_BOOT_DELAY'"
    if [[ $LAB_AUTO_REWIND == default ]]; then
        if [[ $LAB_AGENT == ours ]]; then LAB_AUTO_REWIND=1; else LAB_AUTO_REWIND=0; fi
    fi
    [[ $LAB_AUTO_REWIND =~ ^[01]$ ]] || die "LAB_AUTO_REWIND must be 1 or 0, not '$LAB_AUTO_REWIND'"
    [[ $LAB_AUTO_REWIND == 0 || $LAB_AGENT == ours ]] || die "LAB_AUTO_REWIND=1: only with LAB_AGENT=ours"
    [[ $LAB_CONFIG == crm || $LAB_CONFIG == pcs ]] || die "LAB_CONFIG must be crm or pcs, not '$LAB_CONFIG'"
    [[ $LAB_CRASHFS == - || ($LAB_CRASHFS == /* && -x $LAB_CRASHFS) ]] \
        || die "LAB_CRASHFS must be the absolute path of crashfs (cargo build -p crashfs), not '$LAB_CRASHFS'"
    [[ $PREFIX =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad LAB_PREFIX: $PREFIX"
    SW_NS=$PREFIX-sw
}

check_node() {
    local n
    for n in "${NODES[@]}"; do
        [[ $1 != "$n" ]] || return 0
    done
    die "unknown node '$1' (the nodes are ${NODES[*]})"
}

node_ns() { echo "$PREFIX-$1"; }
node_ip() {
    case $1 in
        dr*) echo "$NET.$((50 + 10#${1#dr}))" ;;
        *) echo "$NET.$((10 + 10#${1#pg}))" ;;
    esac
}
node_dir() { echo "$LAB_ROOT/nodes/$1"; }

# --- a node ------------------------------------------------------------------

# Runs inside the fresh namespaces (already PID 1), as root.
node_init() {
    local root=$1 node=$2
    local n=$root/nodes/$node
    private_mounts "$n" "$node"
    # LAB_AGENT=stock: the patched ocf-shellfuncs, for this node only.
    if [[ -f $root/ocf-shellfuncs ]]; then
        mount --bind "$root/ocf-shellfuncs" "$SHELLFUNCS"
    fi
    # PgBouncer's configuration, this node's own (Debian's pgbouncer reads
    # /etc/pgbouncer; Pacemaker runs it through its init script).
    mount --bind "$n/pgbouncer-etc" /etc/pgbouncer
    # Its init script, with a start that waits for the pidfile
    # (lab/pgbouncer-init says why); Debian's stays at hand for it.
    touch /run/pgbouncer-debian-init
    mount --bind /etc/init.d/pgbouncer /run/pgbouncer-debian-init
    mount --bind "$(dirname "$SELF")/pgbouncer-init" /etc/init.d/pgbouncer
    # LAB_FENCING=1: fence_pglab in /usr/sbin (where pacemaker-fenced looks
    # for fence agents) and the channel to the host's fence daemon.
    if [[ -d $root/fence ]]; then
        mount -t overlay overlay -o "lowerdir=$root/sbin-extra:/usr/sbin" /usr/sbin
        install -d -m 0700 /run/fence_pglab
        mount --bind "$root/fence" /run/fence_pglab
    fi
    become_reaper "$n" "$root" "$node"
}

holder_pid() { reaper_pid "$(node_dir "$1")" "$LAB_ROOT" "$1"; }

is_up() { holder_pid "$1" >/dev/null; }

# Run a command inside a node with a clean environment.
in_node() {
    local node=$1 pid
    shift
    pid=$(holder_pid "$node") || die "node $node is not up (LAB_ROOT=$LAB_ROOT)"
    in_holder "$pid" "$@"
}

# Whether PROGRAM runs in the node. A node that is not up (fenced between
# two checks, say) is an error that says so, not a silent "no".
node_runs() {
    local node=$1 program=$2 pid
    pid=$(holder_pid "$node") || die "node $node is not up (LAB_ROOT=$LAB_ROOT)"
    in_holder "$pid" pidof "$program" >/dev/null 2>&1
}

as_postgres() {
    local node=$1
    shift
    in_node "$node" runuser -u postgres -- env PGPASSFILE=/var/lib/postgresql/.pgpass "$@"
}

# A node whose pacemaker answers (for crm_mon and crm_resource).
any_node() {
    local n pid
    for n in "${NODES[@]}"; do
        # A node that goes down meanwhile is skipped, not an error.
        if pid=$(holder_pid "$n") && in_holder "$pid" pidof pacemaker-controld >/dev/null 2>&1; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

# --- reading the cluster ----------------------------------------------------

crm_xml() {
    local n
    n=$(any_node) || return 1
    in_node "$n" crm_mon -1 -A --output-as=xml 2>/dev/null
}

# The lab's reads of crm_mon's XML (on stdin) go through tools/labview,
# which defines the healthy picture once for this script and the lab tests
# (tools/labview/src/lib.rs): `labview picture AGENT REP_MODE NODES...`
# is true when the named nodes form it under AGENT (auto: the one crm_mon
# shows), else prints what is missing;
# `primary` prints the promoted node, `role NODE` its role, `attr NODE
# NAME` a node attribute. LAB_VIEW names the binary; by default it is built
# here (release profile) on first use.
LAB_VIEW=${LAB_VIEW:-}
labview() {
    if [[ -z $LAB_VIEW ]]; then
        (cd "$(dirname "$SELF")/.." && cargo build --release --locked --quiet -p labview) \
            || die "cannot build tools/labview (cargo build --release -p labview)"
        LAB_VIEW=${CARGO_TARGET_DIR:-$(dirname "$SELF")/../target}/release/labview
    fi
    "$LAB_VIEW" "$@"
}

# SQL through the VIP from the client host (the switch namespace).
# client_psql_at HOST PORT PSQL-ARGS...: psql from the lab's client host.
client_psql_at() {
    local host=$1 port=$2
    shift 2
    ip netns exec "$SW_NS" env -i PATH="$NODE_PATH" LANG=C.UTF-8 PGCONNECT_TIMEOUT=3 \
        timeout 15 "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U postgres -d lab "$@"
}

client_psql() { client_psql_at "$VIP" 5432 "$@"; }

# picture [NODES...]: true when the cluster shows the target picture.
picture() {
    local xml
    xml=$(crm_xml) || { echo "no node answers crm_mon"; return 1; }
    # The agent crm_mon shows: after switch-provider it is not LAB_AGENT.
    local mode=$LAB_REP_MODE
    [[ $mode != quorum ]] || mode=quorum:$LAB_QUORUM_STANDBYS
    labview picture auto "$mode" "$@" <<<"$xml" || return 1
    [[ $LAB_AGENT == paf ]] || return 0
    # PAF: every other named node streams from the primary; in sync mode
    # one of them is the sync standby.
    local want=$(($# - 1)) rows streaming sync
    rows=$(client_psql -XAtq -F' ' -c "select state, sync_state from pg_stat_replication" 2>/dev/null) \
        || { echo "no answer through the VIP"; return 1; }
    streaming=$(grep -c '^streaming ' <<<"$rows" || true)
    sync=$(grep -c ' sync$' <<<"$rows" || true)
    ((streaming == want)) || { echo "$streaming of $want standbys streaming"; return 1; }
    [[ $LAB_REP_MODE == async ]] || ((want == 0 || sync == 1)) \
        || { echo "$sync sync standbys"; return 1; }
}

# await_picture T0 LIMIT WHAT NODES...: poll twice a second until the nodes
# show the target picture; LIMIT seconds after T0 (a $SECONDS value), fail
# with WHAT, what is missing and crm_mon.
await_picture() {
    local t0=$1 limit=$2 what=$3 why= said=
    shift 3
    until why=$(picture "$@"); do
        # What it still waits for, each time that changes.
        [[ $why == "$said" ]] || say "$((SECONDS - t0)) s: waiting for: $why"
        said=$why
        if ((SECONDS - t0 >= limit)); then
            echo "cluster: $what: $why" >&2
            print_crm_mon >&2 || true
            exit 1
        fi
        sleep 0.5
    done
}

current_primary() {
    local xml
    xml=$(crm_xml) || return 1
    labview primary <<<"$xml"
}

node_attr() {
    local xml
    xml=$(crm_xml) || return 1
    labview attr "$1" "$2" <<<"$xml"
}

node_role() {
    local xml
    xml=$(crm_xml) || return 1
    labview role "$1" <<<"$xml"
}

cluster_online() {
    local xml n
    xml=$(crm_xml) || return 1
    [[ $(xmllint --xpath 'string(//summary/current_dc/@present)' - <<<"$xml") == true ]] || return 1
    for n in "$@"; do
        [[ $(xmllint --xpath "string(//nodes/node[@name=\"$n\"]/@online)" - <<<"$xml") == true ]] || return 1
    done
}

print_crm_mon() {
    local n
    if n=$(any_node); then
        in_node "$n" crm_mon -Afr -1
    else
        say "no node has a running pacemaker"
        return 1
    fi
}

# --- building the lab -------------------------------------------------------

write_node_files() {
    local node=$1 n
    n=$(node_dir "$node")
    make_node_dirs "$n"
    {
        echo "127.0.0.1 localhost"
        local m
        for m in "${NODES[@]}"; do
            echo "$(node_ip "$m") $m"
        done
        echo "$CLIENT_IP client"
        echo "$VIP pgvip"
    } >"$n/hosts"
    cp "$LAB_ROOT/corosync.conf" "$n/corosync-etc/corosync.conf"
    install -m 0400 "$LAB_ROOT/authkey" "$n/corosync-etc/authkey"

    # The replication password, for pg_basebackup and primary_conninfo's
    # passfile=; libpq ignores a .pgpass that others can read.
    # And PgBouncer's admin password, for rustpgctl switchover --pgbouncer
    # (it connects as the database owner).
    {
        printf '*:*:*:repl:%s\n' "$(cat "$LAB_ROOT/repl-password")"
        printf '*:6432:pgbouncer:pgbouncer:%s\n' "$(cat "$LAB_ROOT/pgbouncer-password")"
    } >"$n/pghome/.pgpass"
    chown postgres:postgres "$n/pghome/.pgpass"
    chmod 0600 "$n/pghome/.pgpass"
    write_pgbouncer_files "$n"
}

# PgBouncer on every node, as in the reference cluster: clients reach it
# through PgBouncerVIP ($BOUNCER_VIP) on port 6432, and it reaches the
# primary through the PostgreSQL VIP (crm-examples/pgbouncer.ini). The
# lab's client host is trusted (as by PostgreSQL; lab only); the admin
# console takes the pgbouncer user's password from the lab's nodes.
write_pgbouncer_files() {
    local n=$1 e=$1/pgbouncer-etc
    install -d -o postgres -g postgres -m 0750 "$e"
    grep -q "^\* = host=$VIP port=5432$" "$BOUNCER_INI" || die "$BOUNCER_INI does not point at $VIP"
    cp "$BOUNCER_INI" "$e/pgbouncer.ini"
    cat >"$e/pg_hba.conf" <<EOF
# Written by lab/cluster.sh. The lab's client host; the admin console
# from the nodes.
host    all          all        $CLIENT_IP/32    trust
host    pgbouncer    pgbouncer  $NET.0/24       scram-sha-256
EOF
    printf '"postgres" ""\n"pgbouncer" "%s"\n' "$(cat "$LAB_ROOT/pgbouncer-password")" >"$e/userlist.txt"
    local f
    for f in pgbouncer.ini pg_hba.conf userlist.txt; do
        chown postgres:postgres "$e/$f"
        chmod 0640 "$e/$f"
    done
}

write_cluster_files() {
    {
        cat <<EOF
# Written by lab/cluster.sh: the lab cluster.
totem {
    version: 2
    cluster_name: rustpg-lab
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
EOF
        # LAB_COROSYNC_TOKEN=MS: Corosync's token timeout (its default,
        # 3000, when unset; consensus stays 1.2 x the token).
        [[ -z ${LAB_COROSYNC_TOKEN:-} ]] || printf '    token: %d\n' "$LAB_COROSYNC_TOKEN"
        cat <<'EOF'
}
nodelist {
EOF
        local i=0 n
        for n in "${NODES[@]}"; do
            ((++i))
            printf '    node {\n        name: %s\n        nodeid: %d\n        ring0_addr: %s\n    }\n' \
                "$n" "$i" "$(node_ip "$n")"
        done
        cat <<'EOF'
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
EOF
    } >"$LAB_ROOT/corosync.conf"
    # knet's crypto key; 256 random bytes, readable by root only.
    (umask 077 && head -c 256 /dev/urandom >"$LAB_ROOT/authkey")
    (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$LAB_ROOT/repl-password")
    (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$LAB_ROOT/pgbouncer-password")
}

# LAB_AGENT=stock: the patched ocf-shellfuncs each node bind-mounts.
write_stock_shellfuncs() {
    # shellcheck disable=SC2016  # the text of the line, not an expansion
    sed 's|^\(\t*\)\${HA_SBIN_DIR}/crm_attribute -p \$@$|\1${HA_SBIN_DIR}/crm_attribute "$@" -p|' \
        "$SHELLFUNCS" >"$LAB_ROOT/ocf-shellfuncs"
    [[ $(diff "$SHELLFUNCS" "$LAB_ROOT/ocf-shellfuncs" | grep -c '^>') == 1 ]] \
        || die "patching ocf-shellfuncs did not change exactly one line"
    chmod 0644 "$LAB_ROOT/ocf-shellfuncs"
}

# PAF's primitive: its own parameters, then cluster.crm's operations.
PAF_PARAMS=$(cat <<'EOF'
primitive Postgresql ocf:heartbeat:pgsqlms \
    params bindir=/usr/lib/postgresql/15/bin pgdata=/var/lib/pgsql/data \
        pghost=/run/postgresql pgport=5432 \
EOF
)

# LAB_ROOT/cluster.crm: crm-examples/cluster.crm for this lab's agent and
# replication mode. Each change is checked to touch only what it means to.
write_crm_file() {
    local out=$LAB_ROOT/cluster.crm
    case $LAB_AGENT in
        ours) cp "$CRM_FILE" "$out" ;;
        stock)
            sed 's/^\(primitive Postgresql \)ocf:rustpg:pgsql /\1ocf:heartbeat:pgsql /' \
                "$CRM_FILE" >"$out"
            [[ $(diff "$CRM_FILE" "$out" | grep -c '^>') == 1 ]] \
                || die "$CRM_FILE: no 'primitive Postgresql ocf:rustpg:pgsql' line to change"
            ;;
        paf)
            # The primitive's lines up to its first `op` become PAF's.
            # (ENVIRON, not -v: awk -v would read the backslashes.)
            PAF_PARAMS=$PAF_PARAMS awk '
                /^primitive Postgresql / { print ENVIRON["PAF_PARAMS"]; skip = 1; next }
                skip && /^ +op / { skip = 0 }
                !skip { print }' "$CRM_FILE" >"$out"
            if ! grep -q '^primitive Postgresql ocf:heartbeat:pgsqlms' "$out" \
                || [[ $(grep -c '^    op ' "$out") != $(grep -c '^    op ' "$CRM_FILE") ]]; then
                die "$CRM_FILE: could not replace the Postgresql primitive's parameters"
            fi
            ;;
    esac
    if [[ $LAB_PG_MAJOR != 15 ]]; then
        sed -i "s| pgctl=$PG_BIN/pg_ctl | pgctl=$PG_SERVER_BIN/pg_ctl |" "$out"
        grep -q " pgctl=$PG_SERVER_BIN/pg_ctl " "$out" || die "$CRM_FILE: no pgctl=$PG_BIN/pg_ctl to change"
    fi
    if [[ $LAB_REP_MODE != sync && $LAB_AGENT != paf ]]; then
        sed -i "s/ rep_mode=sync / rep_mode=$LAB_REP_MODE /" "$out"
        grep -q " rep_mode=$LAB_REP_MODE " "$out" || die "$CRM_FILE: no rep_mode=sync to change"
    fi
    # quorum_standbys from 2 on needs one connection per standby: slots.
    if [[ $LAB_REP_MODE == quorum ]]; then
        local slot=
        ((LAB_QUORUM_STANDBYS < 2)) || slot=" replication_slot_name=lab"
        sed -i "s/ rep_mode=quorum / rep_mode=quorum quorum_standbys=$LAB_QUORUM_STANDBYS$slot /" "$out"
        grep -q " rep_mode=quorum quorum_standbys=$LAB_QUORUM_STANDBYS$slot " "$out" \
            || die "$CRM_FILE: no rep_mode=quorum to add quorum_standbys to"
    fi
    # More nodes: their names, their addresses, and an instance on each.
    if ((LAB_NODES != 3)); then
        local hosts=() n
        for n in "${NODES[@]}"; do hosts+=("$n=$(node_ip "$n")"); done
        sed -i "s/ node_list=\"pg01 pg02 pg03\" / node_list=\"${NODES[*]}\" /;
                s/ replication_hosts=\"[^\"]*\" / replication_hosts=\"${hosts[*]}\" /;
                s/ clone-max=3 / clone-max=$LAB_NODES /" "$out"
        grep -q " node_list=\"${NODES[*]}\" " "$out" && grep -q " clone-max=$LAB_NODES " "$out" \
            || die "$CRM_FILE: no node_list=\"pg01 pg02 pg03\" or clone-max=3 to change"
        [[ $LAB_AGENT != ours ]] || grep -q " replication_hosts=\"${hosts[*]}\" " "$out" \
            || die "$CRM_FILE: no replication_hosts to change"
    fi
    # replication_hosts needs PostgreSQL 13 (a standby reloads
    # primary_conninfo there): before, standbys stream through master_ip.
    # The stock agent has no such parameter: its lab (and a drop-in from
    # it) runs as a stock configuration would.
    if ((LAB_PG_MAJOR < 13)) || [[ $LAB_AGENT == stock ]]; then
        sed -i '/^ *replication_hosts=".*" \\$/d' "$out"
        ! grep -q 'replication_hosts=' "$out" || die "$CRM_FILE: could not take replication_hosts out"
    fi
    # cluster.crm heals itself: auto_rewind=true (with auto_resync=true),
    # and failure-timeout=10s so that Pacemaker starts a failed instance
    # again, which then rejoins by itself (docs/operations.md).
    # LAB_AUTO_REWIND=0 takes them out: the
    # stock-compatible configuration, where an operator resynchronises a
    # crashed primary and cleans failures up.
    if [[ $LAB_AUTO_REWIND == 0 ]]; then
        sed -i 's/ repuser=repl auto_rewind=true auto_resync=true \\$/ repuser=repl \\/;
                /^    failure-timeout=10s$/d;
                s/^    migration-threshold=1 \\$/    migration-threshold=1/' "$out"
        ! grep -v '^#' "$out" | grep -q 'auto_rewind=\|auto_resync=\|failure-timeout=' \
            && grep -q '^    migration-threshold=1$' "$out" \
            || die "$CRM_FILE: could not take auto_rewind, auto_resync and failure-timeout=10s out"
    fi
    # With fencing, a failed stop fences the node, as in production.crm
    # (without, cluster.crm blocks the instance).
    if [[ $LAB_FENCING == 1 ]]; then
        sed -i 's/^    stonith-enabled=false \\$/    stonith-enabled=true \\/;
                s/^    op stop \(.*\) on-fail=block \\$/    op stop \1 on-fail=fence \\/' "$out"
        grep -q '^    stonith-enabled=true' "$out" || die "$CRM_FILE: no stonith-enabled=false line to change"
        grep -q '^    op stop .* on-fail=fence \\$' "$out" || die "$CRM_FILE: no 'op stop ... on-fail=block' line to change"
        { echo; cat "$FENCING_CRM"; } >>"$out"
        if ((LAB_NODES != 3)); then
            sed -i "s/ pcmk_host_list=\"pg01 pg02 pg03\" / pcmk_host_list=\"${NODES[*]}\" /" "$out"
            grep -q " pcmk_host_list=\"${NODES[*]}\" " "$out" \
                || die "$FENCING_CRM: no pcmk_host_list=\"pg01 pg02 pg03\" to change"
        fi
    fi
    # LAB_MONITORS=PROMOTED/UNPROMOTED (e.g. 1s/2s): the two monitor
    # intervals instead of cluster.crm's 3s/4s (they must differ).
    if [[ -n ${LAB_MONITORS:-} ]]; then
        local promoted=${LAB_MONITORS%/*} unpromoted=${LAB_MONITORS#*/}
        [[ $promoted =~ ^[0-9]+s$ && $unpromoted =~ ^[0-9]+s$ && $promoted != "$unpromoted" ]] \
            || die "LAB_MONITORS must be two different intervals like 1s/2s, not '$LAB_MONITORS'"
        sed -i "s/ op monitor interval=4s timeout=/ op monitor interval=$unpromoted timeout=/;
                s/ op monitor interval=3s role=Promoted / op monitor interval=$promoted role=Promoted /" "$out"
        grep -q " op monitor interval=$promoted role=Promoted " "$out" \
            && grep -q " op monitor interval=$unpromoted timeout=" "$out" \
            || die "$CRM_FILE: no 3s/4s monitors to change"
    fi
}

# The switch: a namespace with the bridge; it is also the client host.
make_switch() {
    ip netns add "$SW_NS"
    echo "$SW_NS" >>"$LAB_ROOT/netns-made"
    ip netns exec "$SW_NS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    ip netns exec "$SW_NS" sysctl -q -w net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip -n "$SW_NS" link set lo up
    ip -n "$SW_NS" link add br0 type bridge
    ip -n "$SW_NS" addr add "$CLIENT_IP/24" dev br0
    ip -n "$SW_NS" link set br0 up
}

# A node's network namespace: lo + eth0, a veth whose peer is a bridge port.
make_node_net() {
    local node=$1 ns
    ns=$(node_ns "$node")
    ! ip netns pids "$ns" >/dev/null 2>&1 || die "network namespace $ns already exists (not ours); set LAB_PREFIX"
    ip netns add "$ns"
    grep -qxF "$ns" "$LAB_ROOT/netns-made" 2>/dev/null || echo "$ns" >>"$LAB_ROOT/netns-made"
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
    ip netns exec "$ns" sysctl -q -w net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip -n "$ns" link set lo up
    # A leftover port of a crashed incarnation goes first.
    ip -n "$SW_NS" link del "v-$node" 2>/dev/null || true
    ip -n "$SW_NS" link add "v-$node" type veth peer name eth0 netns "$ns"
    ip -n "$SW_NS" link set "v-$node" master br0 up
    ip -n "$ns" addr add "$(node_ip "$node")/24" dev eth0
    ip -n "$ns" link set eth0 up
}

start_node_holder() {
    local node=$1
    start_holder "$(node_ns "$node")" "$(node_dir "$node")" "$LAB_ROOT" "$node"
    wait_for 5 "the reaper of $node" is_up "$node"
}

# start_stack NODE...: Corosync on every node given, then Pacemaker on each
# once its Corosync answers (they start side by side, not one after another).
start_stack() {
    local node
    # setsid -f: the daemons are orphaned at once and adopted by the reaper.
    for node in "$@"; do
        in_node "$node" setsid -f corosync -f </dev/null >>"$(node_dir "$node")/daemons.log" 2>&1
    done
    for node in "$@"; do
        wait_for 30 "corosync on $node" in_node "$node" corosync-cfgtool -s
        in_node "$node" setsid -f pacemakerd </dev/null >>"$(node_dir "$node")/daemons.log" 2>&1
    done
}

not_running() { ! in_node "$1" pidof "$2"; }

stop_stack() {
    local node=$1
    in_node "$node" pacemakerd --shutdown >/dev/null 2>&1 || true
    wait_for 150 "pacemaker to stop on $node" not_running "$node" pacemakerd || true
    in_node "$node" corosync-cfgtool -H --force >/dev/null 2>&1 || true
    wait_for 15 "corosync to stop on $node" not_running "$node" corosync || true
}

# Make a node disappear: kill its PID 1 (the kernel kills every process of
# its pid namespace at once), then delete its network namespace.
# --- crashfs (LAB_CRASHFS): disks that forget what was not synced ---------

# mount_crashfs NODE: the node's PostgreSQL directory through crashfs, on the
# host, before the node's first boot (its mount namespace copies the host's
# mounts when it is made).
mount_crashfs() {
    local n
    n=$(node_dir "$1")
    setsid "$LAB_CRASHFS" "$n/pgsql" "$n/pgsql" --control "$n/crashfs.sock" \
        </dev/null >>"$n/crashfs.log" 2>&1 &
    echo $! >"$n/crashfs.pid"
    "$LAB_CRASHFS" wait "$n/crashfs.sock" --timeout 10 >/dev/null \
        || die "crashfs did not come up for $1: $(tail -3 "$n/crashfs.log")"
}

# crashfs_do NODE crash|sync: forget (a crash) or write back (what an
# operator's synced copy would have) what the node's disk holds unsynced; a
# crash is logged with what it dropped in LAB_ROOT/crashfs.log.
crashfs_do() {
    [[ $LAB_CRASHFS != - ]] || return 0
    local n out
    n=$(node_dir "$1")
    [[ -S $n/crashfs.sock ]] || return 0
    out=$("$LAB_CRASHFS" "$2" "$n/crashfs.sock" 2>&1) || true
    echo "$(date +%s%3N) $1 $2 ${out//$'\n'/ }" >>"$LAB_ROOT/crashfs.log"
}

# umount_crashfs NODE: after the node is down; crashfs writes back what is
# left and exits.
umount_crashfs() {
    local n pid i
    n=$(node_dir "$1")
    [[ -f $n/crashfs.pid ]] || return 0
    pid=$(cat "$n/crashfs.pid")
    if umount "$n/pgsql" 2>>"$LAB_ROOT/crashfs.log"; then
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    else
        # Still busy: the lab is going away, nothing on it matters now.
        umount -l "$n/pgsql" 2>/dev/null || true
    fi
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$n/crashfs.pid"
}

kill_node() {
    local node=$1 ns
    kill_holder "$(node_dir "$node")" "$LAB_ROOT" "$node"
    # Every process of the node is gone: its disk forgets what they had
    # not synced, as after a power loss.
    crashfs_do "$node" crash
    ns=$(node_ns "$node")
    ip -n "$SW_NS" link del "v-$node" 2>/dev/null || true
    if grep -qxF "$ns" "$LAB_ROOT/netns-made" 2>/dev/null && ip netns pids "$ns" >/dev/null 2>&1; then
        ip netns del "$ns"
    fi
}

# power_on NODE STACK: a new incarnation of a node that is down (its data
# directories kept, as a disk); with STACK=1 corosync and pacemaker start.
power_on() {
    local node=$1 stack=$2
    kill_node "$node"   # leftovers of the dead incarnation, if any
    make_node_net "$node"
    start_node_holder "$node"
    ((stack == 0)) || start_stack "$node"
}

# Node power changes (crash, revive, the fence daemon) hold this lock, so
# that a boot never meets a kill half-way. (The command runs without fd 9:
# a daemon it starts must not hold the lock forever.)
with_power_lock() {
    (
        flock 9
        "$@" 9>&-
    ) 9>>"$LAB_ROOT/power.lock"
}

# --- fencing (LAB_FENCING=1) ---------------------------------------------------

fence_log() {
    printf '%s %s\n' "$(date +%s%3N)" "$*" >>"$LAB_ROOT/fence/history"
}

# One request of fence_pglab: sets rc and msg (the fence-agents codes: 0
# done / on, 1 failed, 2 off).
fence_act() {
    local action=$1 node=$2 known=0 n
    for n in "${NODES[@]}"; do
        [[ $node != "$n" ]] || known=1
    done
    rc=0
    case $action in
        list) msg="${NODES[*]}"; return ;;
        monitor) msg=ok; return ;;
    esac
    if ((!known)); then
        rc=1 msg="unknown node '$node'"
        return
    fi
    case $action in
        off | reboot)
            unset "boot_due[$node]"
            if is_up "$node"; then
                with_power_lock kill_node "$node" >>"$LAB_ROOT/fence/daemon.log" 2>&1 || rc=1
                msg="powered off"
            else
                msg="was already off"
            fi
            if [[ $action == reboot && $rc == 0 ]]; then
                boot_due[$node]=$((SECONDS + LAB_FENCE_BOOT_DELAY))
                msg+="; boots in ${LAB_FENCE_BOOT_DELAY} s"
            fi
            ;;
        on)
            unset "boot_due[$node]"
            if is_up "$node"; then
                msg="was already on"
            else
                if boot "$node"; then msg="powered on"; else rc=1 msg="boot failed"; fi
            fi
            ;;
        status)
            if is_up "$node"; then msg=on; else rc=2 msg=off; fi
            ;;
        *) rc=1 msg="unknown action '$action'" ;;
    esac
}

# True while a running node's corosync still counts NODE a member. A node
# that boots before the others' membership has dropped it would be told,
# once it joins, that it was just fenced, and would stop its stack.
member_elsewhere() {
    local node=$1 n
    for n in "${NODES[@]}"; do
        [[ $n != "$node" ]] && is_up "$n" || continue
        in_node "$n" corosync-quorumtool -l 2>/dev/null | awk '{print $3}' | grep -qxF "$node" && return 0
    done
    return 1
}

boot() {
    local node=$1 stack=$LAB_FENCE_AUTOSTART
    [[ ! -e $LAB_ROOT/fence/stack-at-boot-$node ]] || read -r stack <"$LAB_ROOT/fence/stack-at-boot-$node"
    if with_power_lock power_on "$node" "$stack" >>"$LAB_ROOT/fence/daemon.log" 2>&1; then
        fence_log "boot $node: up$( ((stack)) && echo ", cluster stack started" || echo ", no cluster stack")"
    else
        fence_log "boot $node: failed (LAB_ROOT/fence/daemon.log)"
        return 1
    fi
}

# The fence daemon: a host process (`up` starts it, `down` kills it) that
# serves fence_pglab's requests in order, then the boots that are due.
fence_daemon() {
    check_names
    local dir=$LAB_ROOT/fence req id action node rc msg
    declare -A boot_due=()
    echo "$BASHPID" >"$dir/daemon.pid"
    while [[ -e $LAB_ROOT/$MARKER ]]; do
        for req in "$dir"/requests/*.req; do
            [[ -e $req ]] || continue
            id=$(basename "$req" .req)
            action="?" node="?"
            read -r action node <"$req" || true
            rm -f "$req"
            fence_act "$action" "$node"
            fence_log "$action $node: rc=$rc $msg"
            printf '%s %s\n' "$rc" "$msg" >"$dir/replies/$id.tmp"
            mv "$dir/replies/$id.tmp" "$dir/replies/$id"
        done
        for node in "${!boot_due[@]}"; do
            ((SECONDS >= boot_due[$node])) || continue
            # Someone revived it meanwhile (lab/cluster.sh revive): say so,
            # so that nobody waits for this boot. First: a revived node is
            # a member again, and would otherwise be waited for forever.
            if is_up "$node"; then
                unset "boot_due[$node]"
                fence_log "boot $node: skipped, already up"
                continue
            fi
            if member_elsewhere "$node"; then
                boot_due[$node]=$((SECONDS + 1))
                continue
            fi
            unset "boot_due[$node]"
            boot "$node" || true
        done
        sleep 0.2
    done
}

fence_daemon_pid() {
    local pid
    pid=$(cat "$LAB_ROOT/fence/daemon.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && grep -qsF -- "_fence-daemon" "/proc/$pid/cmdline" || return 1
    echo "$pid"
}

start_fence_daemon() {
    local dir=$LAB_ROOT/fence
    install -d -m 0700 "$dir" "$dir/requests" "$dir/replies"
    # The overlay's top layer: the merged /usr/sbin takes its mode.
    install -d -m 0755 "$LAB_ROOT/sbin-extra"
    install -m 0755 "$FENCE_AGENT" "$LAB_ROOT/sbin-extra/fence_pglab"
    : >"$dir/history"
    setsid env LAB_ROOT="$LAB_ROOT" "$SELF" _fence-daemon </dev/null >>"$dir/daemon.log" 2>&1 &
    wait_for 10 "the fence daemon" fence_daemon_pid
}

stop_fence_daemon() {
    local pid
    if pid=$(fence_daemon_pid); then
        # Its whole process group (setsid made it the leader): a boot it
        # has begun must not bring a node up after the lab went down.
        kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
        wait_gone "$pid" 50 || kill -KILL -- -"$pid" 2>/dev/null || true
    fi
}

cmd_fence_history() {
    check_names
    [[ -f $LAB_ROOT/fence/history ]] || die "no fencing in this lab (LAB_FENCING=0)"
    cat "$LAB_ROOT/fence/history"
}

# --- agent-neutral PostgreSQL set-up ----------------------------------------

write_hba() {
    local node=$1
    cat >"$(node_dir "$node")/pgsql/data/pg_hba.conf" <<EOF
# Written by lab/cluster.sh for $node.
# TYPE  DATABASE     USER      ADDRESS            METHOD
local   all          all                          peer
local   replication  all                          peer
host    all          all       127.0.0.1/32       scram-sha-256
# Never replicate from the VIP or from this node's own address: a node must
# not become a standby of itself (PAF's advice).
host    replication  all       $VIP/32    reject
host    replication  all       $(node_ip "$node")/32     reject
host    replication  repl      $NET.0/24      scram-sha-256
# pg_rewind from the primary (auto_rewind) connects to the database postgres.
host    postgres     repl      $NET.0/24      scram-sha-256
# The lab's client host (namespace $SW_NS) may connect without a password,
# and so may the nodes' PgBouncers, to the databases they serve. Lab only.
host    all          all       $CLIENT_IP/32    trust
host    lab,postgres postgres  $NET.0/24      trust
EOF
    chown postgres:postgres "$(node_dir "$node")/pgsql/data/pg_hba.conf"
    chmod 0600 "$(node_dir "$node")/pgsql/data/pg_hba.conf"
    {
        printf "# Written by lab/cluster.sh.\ncluster_name = '%s'\n" "$node"
        # PAF leaves the standby settings to the administrator.
        if [[ $LAB_AGENT == paf ]]; then
            printf "primary_conninfo = 'host=%s port=5432 user=repl application_name=%s %s'\n" \
                "$VIP" "$node" "passfile=/var/lib/postgresql/.pgpass keepalives_idle=60 keepalives_interval=5 keepalives_count=5"
            echo "recovery_target_timeline = 'latest'"
            if [[ $LAB_REP_MODE == sync ]]; then
                local names
                names=$(printf '%s, ' "${NODES[@]}")
                echo "synchronous_standby_names = 'FIRST 1 (${names%, })'"
            fi
        fi
    } >"$(node_dir "$node")/pgsql/data/lab-node.conf"
    chown postgres:postgres "$(node_dir "$node")/pgsql/data/lab-node.conf"
}

init_postgres() {
    local d=$LAB_ROOT/nodes/pg01/pgsql n
    for n in "${NODES[@]}"; do
        install -d -o postgres -g postgres -m 0700 "$(node_dir "$n")/pgsql/tmp"
    done
    initdb_in in_node pg01
    # The file is the same one the node sees through its bind mount.
    cat >>"$d/data/postgresql.conf" <<'EOF'

# lab/cluster.sh
listen_addresses = '*'
port = 5432
unix_socket_directories = '/run/postgresql'
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 10
hot_standby = on
hot_standby_feedback = on
wal_log_hints = on
include_if_exists = 'lab-node.conf'
EOF
    if ((LAB_PG_MAJOR >= 13)); then
        echo "wal_keep_size = 256MB" >>"$d/data/postgresql.conf"
    else
        echo "wal_keep_segments = 16" >>"$d/data/postgresql.conf"
    fi
    write_hba pg01
    as_postgres pg01 "$PG_SERVER_BIN/pg_ctl" -D /var/lib/pgsql/data -l /var/log/postgresql/lab-setup.log \
        -w -t 60 start >/dev/null
    # synchronous_commit=local: no standby streams yet (PAF's sync lab
    # names them in lab-node.conf already).
    as_postgres pg01 env PGOPTIONS='-c synchronous_commit=local' \
        "$PG_BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h /run/postgresql -d postgres \
        -v pw="$(cat "$LAB_ROOT/repl-password")" >/dev/null <<'EOF'
CREATE ROLE repl WITH REPLICATION LOGIN PASSWORD :'pw';
CREATE DATABASE lab;
-- What rustpgctl status reads of the primary's pg_stat_replication from
-- any node (README, "The operator tool").
GRANT pg_read_all_stats TO repl;
-- What pg_rewind reads from its source (11 and later; on 10 it needs a
-- superuser): docs/operations.md, auto_rewind.
SELECT format('GRANT EXECUTE ON FUNCTION %s TO repl', f)
FROM unnest(ARRAY['pg_catalog.pg_ls_dir(text, boolean, boolean)',
                  'pg_catalog.pg_stat_file(text, boolean)',
                  'pg_catalog.pg_read_binary_file(text)',
                  'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)']) AS f
WHERE current_setting('server_version_num')::int >= 110000 \gexec
\c lab
CREATE TABLE probe (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    node text NOT NULL DEFAULT current_setting('cluster_name'),
    note text
);
EOF
    # Base backups, without -R: the agent writes the standby configuration.
    local pids=() node
    for node in "${NODES[@]:1}"; do
        as_postgres "$node" "$PG_BIN/pg_basebackup" -h "$(node_ip pg01)" -U repl \
            -D /var/lib/pgsql/data -X stream -c fast --no-sync \
            >"$LAB_ROOT/basebackup-$node.log" 2>&1 &
        pids+=($!)
    done
    local p
    for p in "${pids[@]}"; do
        wait "$p" || die "pg_basebackup failed: $(cat "$LAB_ROOT"/basebackup-*.log)"
    done
    for node in "${NODES[@]:1}"; do
        write_hba "$node"
    done
    as_postgres pg01 "$PG_SERVER_BIN/pg_ctl" -D /var/lib/pgsql/data -m fast -w -t 60 stop >/dev/null
}

# --- a standby outside the cluster --------------------------------------------

DR=dr1

# dr up: the DR node's namespace and holder (no corosync, no pacemaker), a
# base backup of the primary through the VIP, and PostgreSQL streaming from
# the VIP, so that it follows whichever node is promoted.
dr_up() {
    ((LAB_PG_MAJOR >= 12)) || die "the DR standby needs PostgreSQL 12 or later (standby.signal)"
    ! is_up "$DR" || die "$DR is up already"
    write_node_files "$DR"
    make_node_net "$DR"
    start_node_holder "$DR"
    as_postgres "$DR" "$PG_BIN/pg_basebackup" -h "$VIP" -U repl -D /var/lib/pgsql/data \
        -X stream -c fast >"$LAB_ROOT/basebackup-$DR.log" 2>&1 \
        || die "pg_basebackup for $DR failed: $(tail -3 "$LAB_ROOT/basebackup-$DR.log")"
    local d
    d=$(node_dir "$DR")/pgsql/data
    write_hba "$DR"
    # The agent's settings for the node the backup came from are not the
    # DR standby's: its own, in the file a DR site would write.
    printf '# Written by lab/cluster.sh for %s.\n' "$DR" >"$d/postgresql.auto.conf"
    {
        printf "cluster_name = '%s'\n" "$DR"
        printf "primary_conninfo = 'host=%s port=5432 user=repl application_name=%s %s'\n" \
            "$VIP" "$DR" "passfile=/var/lib/postgresql/.pgpass"
        echo "recovery_target_timeline = 'latest'"
        echo "wal_retrieve_retry_interval = '1s'"
    } >"$d/lab-node.conf"
    touch "$d/standby.signal"
    chown postgres:postgres "$d/postgresql.auto.conf" "$d/lab-node.conf" "$d/standby.signal"
    dr_start
}

dr_start() {
    as_postgres "$DR" "$PG_SERVER_BIN/pg_ctl" -D /var/lib/pgsql/data -l /var/log/postgresql/dr.log \
        -w -t 60 start >/dev/null
}

dr_stop() {
    as_postgres "$DR" "$PG_SERVER_BIN/pg_ctl" -D /var/lib/pgsql/data -m immediate -w -t 60 stop >/dev/null
}

cmd_dr() {
    check_names
    [[ -e $LAB_ROOT/$MARKER ]] || die "no lab in $LAB_ROOT"
    case ${1:-} in
        up) dr_up ;;
        stop) dr_stop ;;
        start) dr_start ;;
        sql)
            shift
            as_postgres "$DR" "$PG_BIN/psql" -XAtq -h /run/postgresql -d lab -c "$*"
            ;;
        *) die "usage: $0 dr up|stop|start|sql SQL..." ;;
    esac
}

# --- subcommands ------------------------------------------------------------

cmd_up() {
    check_names
    [[ $(id -u) == 0 ]] || die "run as root"
    local n
    if [[ -e $LAB_ROOT/$MARKER ]]; then
        for n in "${NODES[@]}"; do
            if is_up "$n"; then
                say "a lab is already up in $LAB_ROOT; nothing to do (lab/cluster.sh down first)"
                exit 0
            fi
        done
        say "removing the remains of an earlier lab in $LAB_ROOT"
        cmd_down
        PREFIX=${LAB_PREFIX:-rustpg}
        LAB_AGENT=$ASKED_AGENT
        LAB_REP_MODE=$ASKED_REP_MODE
        LAB_PG_MAJOR=$ASKED_PG_MAJOR
        read -r LAB_FENCING LAB_AUTO_REWIND LAB_CONFIG LAB_FENCE_AUTOSTART LAB_FENCE_BOOT_DELAY \
            LAB_CRASHFS <<<"$ASKED_SETTINGS"
        read -r LAB_NODES LAB_QUORUM_STANDBYS <<<"$ASKED_SHAPE"
        check_names
    fi
    [[ ! -e $LAB_ROOT ]] || die "$LAB_ROOT exists and is not a lab state dir; remove it or set LAB_ROOT"
    # cluster-pcs.sh configures the shipped cluster (rep-mode changes the
    # mode of a lab that runs).
    if [[ $LAB_CONFIG == pcs ]]; then
        [[ $LAB_AGENT == ours && $LAB_REP_MODE == sync && $LAB_PG_MAJOR == 15 && -z ${LAB_MONITORS:-} \
            && $LAB_AUTO_REWIND == 1 && $LAB_NODES == 3 ]] \
            || die "LAB_CONFIG=pcs: only with the default agent, mode, major, monitors, auto_rewind and nodes"
    fi
    [[ -x $AGENT ]] || die "$AGENT is missing: run scripts/install.sh first"
    [[ -f $CRM_FILE ]] || die "missing $CRM_FILE"
    if [[ $LAB_AGENT == stock ]]; then
        [[ -x $STOCK_AGENT ]] || die "$STOCK_AGENT is missing (package resource-agents)"
        # shellcheck disable=SC2016  # the text of the line, not an expansion
        grep -qF '${HA_SBIN_DIR}/crm_attribute -p $@' "$SHELLFUNCS" \
            || die "$SHELLFUNCS: ocf_promotion_score is not the one of resource-agents 4.12; the lab's patch does not apply"
    fi
    if [[ $LAB_AGENT == paf ]]; then
        [[ -x $PAF_AGENT ]] || die "$PAF_AGENT is missing (package resource-agents-paf)"
    fi
    grep -q "master_ip=$VIP " "$CRM_FILE" || die "$CRM_FILE does not use master_ip=$VIP"
    [[ -x /usr/sbin/pgbouncer && -x /etc/init.d/pgbouncer && -d /etc/pgbouncer ]] \
        || die "pgbouncer is missing (Debian's package pgbouncer: scripts/install-deps.sh)"
    ! ip netns pids "$SW_NS" >/dev/null 2>&1 || die "network namespace $SW_NS already exists (not ours); set LAB_PREFIX"
    for n in "${NODES[@]}"; do
        ! ip netns pids "$(node_ns "$n")" >/dev/null 2>&1 \
            || die "network namespace $(node_ns "$n") already exists (not ours); set LAB_PREFIX"
    done

    local t0=$SECONDS
    up_done=0
    trap '((up_done)) || echo "cluster: up failed; logs are in $LAB_ROOT (nodes/*/daemons.log, nodes/*/*-log/). Clean up with: lab/cluster.sh down" >&2' EXIT
    install -d -m 0755 "$LAB_ROOT"
    touch "$LAB_ROOT/$MARKER"
    echo "$PREFIX" >"$LAB_ROOT/prefix"
    [[ -x $PG_SERVER_BIN/postgres ]] \
        || die "PostgreSQL $LAB_PG_MAJOR is not installed in $PG_SERVER_BIN (scripts/install-pg-majors.sh)"
    echo "$LAB_AGENT $LAB_REP_MODE $LAB_PG_MAJOR" >"$LAB_ROOT/agent"
    echo "$LAB_FENCING $LAB_AUTO_REWIND $LAB_CONFIG $LAB_FENCE_AUTOSTART $LAB_FENCE_BOOT_DELAY $LAB_CRASHFS" \
        >"$LAB_ROOT/settings"
    echo "$LAB_NODES $LAB_QUORUM_STANDBYS" >"$LAB_ROOT/shape"
    make_var_lib_pgsql
    write_cluster_files
    [[ $LAB_AGENT != stock ]] || write_stock_shellfuncs
    write_crm_file
    local crm=$LAB_ROOT/cluster.crm
    for n in "${NODES[@]}"; do
        write_node_files "$n"
    done

    say "network: switch namespace $SW_NS (br0, client $CLIENT_IP), nodes ${NODES[*]} on $(node_ip pg01)-$(node_ip "${NODES[-1]}") (/24), VIP $VIP, PgBouncerVIP $BOUNCER_VIP; no route out"
    make_switch
    for n in "${NODES[@]}"; do
        make_node_net "$n"
    done
    if ((LAB_FENCING)); then
        say "fencing: fence daemon on the host, fence_pglab in every node (reboot: ${LAB_FENCE_BOOT_DELAY} s off, then $( ((LAB_FENCE_AUTOSTART)) && echo "with" || echo "without") the cluster stack)"
        start_fence_daemon
    else
        say "fencing: none (LAB_FENCING=0): stonith-enabled=false"
    fi
    if [[ $LAB_CRASHFS != - ]]; then
        say "disks: every node's /var/lib/pgsql through crashfs (a crash forgets what was not synced)"
        for n in "${NODES[@]}"; do
            mount_crashfs "$n"
        done
    fi
    say "nodes: namespaces and private mounts"
    for n in "${NODES[@]}"; do
        start_node_holder "$n"
    done
    say "starting corosync and pacemakerd on ${NODES[*]}"
    start_stack "${NODES[@]}"

    say "PostgreSQL $LAB_PG_MAJOR: initdb on pg01, pg_basebackup to ${NODES[*]:1} (while the cluster forms)"
    init_postgres
    # initdb and pg_basebackup ran with --no-sync: a fresh install is on disk.
    for n in "${NODES[@]}"; do
        crashfs_do "$n" sync
    done

    wait_for $((UP_TIMEOUT - (SECONDS - t0))) "${NODES[*]} to be online with a DC" \
        cluster_online "${NODES[@]}" || { print_crm_mon || true; exit 1; }
    # The repo and LAB_ROOT are visible inside the nodes (only the paths
    # above are private).
    if [[ $LAB_CONFIG == pcs ]]; then
        say "cluster formed after $((SECONDS - t0)) s; configuring it live with $PCS_SCRIPT"
        in_node pg01 "$PCS_SCRIPT" >"$LAB_ROOT/pcs.log" 2>&1 || die "$PCS_SCRIPT failed: $(tail -5 "$LAB_ROOT/pcs.log")"
        if ((LAB_FENCING)); then
            # lab-fencing.crm and the stop that fences, as pcs commands.
            in_node pg01 pcs stonith create lab-fence fence_pglab pcmk_host_list="${NODES[*]}" \
                op monitor interval=60s timeout=20s >>"$LAB_ROOT/pcs.log" 2>&1 \
                || die "pcs stonith create failed: $(tail -5 "$LAB_ROOT/pcs.log")"
            in_node pg01 pcs property set stonith-enabled=true >>"$LAB_ROOT/pcs.log" 2>&1 \
                || die "pcs property set failed: $(tail -5 "$LAB_ROOT/pcs.log")"
            in_node pg01 pcs resource update Postgresql op stop timeout=120s interval=0s on-fail=fence \
                >>"$LAB_ROOT/pcs.log" 2>&1 || die "pcs resource update failed: $(tail -5 "$LAB_ROOT/pcs.log")"
        fi
    else
        say "cluster formed after $((SECONDS - t0)) s; loading $crm"
        in_node pg01 crm configure load update "$crm"
    fi
    say "waiting for the agent to elect a primary and the standbys to stream"
    await_picture "$t0" "$UP_TIMEOUT" "the cluster did not reach the target picture within ${UP_TIMEOUT}s" \
        "${NODES[@]}"
    # shellcheck disable=SC2034  # read by the EXIT trap
    up_done=1
    say "up in $((SECONDS - t0)) s"
    print_crm_mon
}

cmd_down() {
    check_names
    if [[ ! -e $LAB_ROOT/$MARKER ]]; then
        say "no lab in $LAB_ROOT; nothing to do"
        return 0
    fi
    local t0=$SECONDS n
    # No fencing while the lab goes down.
    stop_fence_daemon
    # Every node powered off at once: the lab and its data go, so a clean
    # stop of Pacemaker and PostgreSQL (seconds per node) would buy nothing.
    say "powering off ${NODES[*]} and $DR"
    for n in "${NODES[@]}" "$DR"; do
        kill_node "$n"
    done
    # A node that a boot begun before the fence daemon stopped brought up
    # meanwhile goes too, before its disk is unmounted.
    for n in "${NODES[@]}"; do
        if is_up "$n"; then
            kill_node "$n"
        fi
        umount_crashfs "$n"
    done
    local ns
    while read -r ns; do
        [[ -n $ns ]] || continue
        if ip netns pids "$ns" >/dev/null 2>&1; then
            ip netns del "$ns"
        fi
    done <"$LAB_ROOT/netns-made" 2>/dev/null || true
    remove_lab_root
    say "lab $LAB_ROOT is down ($((SECONDS - t0)) s)"
}

cmd_status() {
    check_names
    if [[ ! -e $LAB_ROOT/$MARKER ]]; then
        say "down (LAB_ROOT=$LAB_ROOT)"
        return 3
    fi
    local n pid any=0 pg
    for n in "${NODES[@]}"; do
        if pid=$(holder_pid "$n"); then
            any=1
            pg=stopped
            if node_runs "$n" postgres; then
                pg=$(as_postgres "$n" "$PG_BIN/psql" -XAtq -h /run/postgresql -d postgres \
                    -c "select case when pg_is_in_recovery() then 'standby' else 'primary' end" 2>/dev/null) \
                    || pg="running (no answer)"
            fi
            printf '%s: up, netns %s, %s/24, holder pid %s; corosync %s, pacemakerd %s, PostgreSQL %s\n' \
                "$n" "$(node_ns "$n")" "$(node_ip "$n")" "$pid" \
                "$(node_runs "$n" corosync && echo running || echo stopped)" \
                "$(node_runs "$n" pacemakerd && echo running || echo stopped)" "$pg"
        else
            printf '%s: down (crashed or never started)\n' "$n"
        fi
    done
    if ((LAB_FENCING)); then
        local d
        d=$(fence_daemon_pid) && d="running (pid $d)" || d="NOT RUNNING"
        printf 'fencing: fence daemon %s, %s requests so far (lab/cluster.sh fence-history)\n' \
            "$d" "$(grep -vc ' boot ' "$LAB_ROOT/fence/history" || true)"
    else
        echo "fencing: none (LAB_FENCING=0)"
    fi
    ((any)) || return 3
    echo
    print_crm_mon
}

# cmd_sql COMMAND HOST PORT SQL...: `sql` through the VIP, `bouncer-sql`
# through PgBouncerVIP (as the reference cluster's applications connect).
cmd_sql() {
    local command=$1 host=$2 port=$3 rc=0
    shift 3
    check_names
    (($#)) || die "usage: $0 $command SQL..."
    ip netns pids "$SW_NS" >/dev/null 2>&1 || die "the lab is not up (no namespace $SW_NS)"
    client_psql_at "$host" "$port" -c "$*" || rc=$?
    if ((rc)); then
        echo "cluster: sql through $host:$port failed (rc=$rc)" >&2
        return "$rc"
    fi
}

# What an operator does to stop a fence loop (`systemctl disable
# corosync pacemaker` on the node): its next reboots leave the stack off.
cmd_stack_at_boot() {
    check_names
    local node=$1 state=${2:-}
    check_node "$node"
    [[ -d $LAB_ROOT/fence ]] || die "no fencing in this lab (LAB_FENCING=0)"
    case $state in
        on) echo 1 >"$LAB_ROOT/fence/stack-at-boot-$node" ;;
        off) echo 0 >"$LAB_ROOT/fence/stack-at-boot-$node" ;;
        *) die "usage: $0 stack-at-boot NODE on|off" ;;
    esac
    say "$node: fenced reboots start the cluster stack: $state"
}

cmd_crash() {
    check_names
    local node=$1
    check_node "$node"
    is_up "$node" || die "node $node is not up"
    with_power_lock kill_node "$node"
    say "$node crashed: every process killed, network namespace $(node_ns "$node") removed"
}

cmd_revive() {
    check_names
    local node=$1 t0=$SECONDS
    check_node "$node"
    [[ -e $LAB_ROOT/$MARKER ]] || die "no lab in $LAB_ROOT"
    ! is_up "$node" || die "node $node is up; crash it first (or use start-node)"
    with_power_lock power_on "$node" 1
    wait_for 90 "$node to join the cluster" cluster_online "$node" || true
    say "$node revived in $((SECONDS - t0)) s (data directories kept)"
}

cmd_stop_node() {
    check_names
    local node=$1 t0=$SECONDS
    if [[ $node == all ]]; then
        # Every node at once, as `down` does: the whole cluster stops.
        local n pids=()
        for n in "${NODES[@]}"; do
            is_up "$n" || die "node $n is not up"
        done
        for n in "${NODES[@]}"; do
            (stop_stack "$n") &
            pids+=($!)
        done
        wait "${pids[@]}" || true
        say "cluster stack stopped on ${NODES[*]} in $((SECONDS - t0)) s"
        return 0
    fi
    check_node "$node"
    is_up "$node" || die "node $node is not up"
    stop_stack "$node"
    say "cluster stack stopped on $node in $((SECONDS - t0)) s"
}

cmd_start_node() {
    check_names
    local node=$1 t0=$SECONDS
    if [[ $node == all ]]; then
        local n
        for n in "${NODES[@]}"; do
            is_up "$n" || die "node $n is not up (use revive for a crashed node)"
            node_runs "$n" pacemakerd && die "pacemaker already runs on $n"
            node_runs "$n" corosync && die "corosync already runs on $n (stop-node first)"
        done
        start_stack "${NODES[@]}"
        wait_for 90 "${NODES[*]} to join the cluster" cluster_online "${NODES[@]}" || true
        say "cluster stack started on ${NODES[*]} in $((SECONDS - t0)) s"
        return 0
    fi
    check_node "$node"
    is_up "$node" || die "node $node is not up (use revive for a crashed node)"
    node_runs "$node" pacemakerd && die "pacemaker already runs on $node"
    node_runs "$node" corosync && die "corosync already runs on $node (stop-node first)"
    start_stack "$node"
    wait_for 90 "$node to join the cluster" cluster_online "$node" || true
    say "cluster stack started on $node in $((SECONDS - t0)) s"
}

# Cut a node off the lab network, or reconnect it: its veth port on the
# switch (inside the lab's switch namespace) goes down or up. The node's
# processes keep running and its eth0 keeps its addresses (the VIP too);
# nothing outside the lab's namespaces is touched.
cmd_partition() {
    check_names
    local node=$1 state=$2
    check_node "$node"
    is_up "$node" || die "node $node is not up"
    ip -n "$SW_NS" link show "v-$node" >/dev/null 2>&1 || die "no port v-$node on the switch $SW_NS"
    ip -n "$SW_NS" link set "v-$node" "$state"
    if [[ $state == down ]]; then
        say "$node partitioned: port v-$node on $SW_NS is down"
    else
        say "$node healed: port v-$node on $SW_NS is up"
    fi
}

# Move the promoted role away from the current primary. Our agent: the
# operator's command, `rustpgctl switchover [--to NODE]`. The others: ban
# the Promoted role there, wait for another node to be promoted and the old
# primary to be Unpromoted, then clear the ban. (`crm resource move
# --promoted` does nothing here: its INFINITY preference ties with
# resource-stickiness.) Then the full picture.
cmd_switchover() {
    check_names
    local n
    n=$(any_node) || die "no node has a running pacemaker"
    # The agent that runs now (after switch-provider, not LAB_AGENT's).
    if in_node "$n" cibadmin --query --xpath "//primitive[@id='Postgresql']" | grep -q 'provider="rustpg"'; then
        switchover_with_rustpgctl "$@"
    else
        switchover_with_a_ban "$@"
    fi
}

# rustpgctl: LAB_RUSTPGCTL, else the installed one (the Debian package's),
# else the build beside this checkout's (release profile, built here).
rustpgctl_binary() {
    if [[ -n ${LAB_RUSTPGCTL:-} ]]; then
        echo "$LAB_RUSTPGCTL"
    elif command -v rustpgctl; then
        :
    else
        (cd "$(dirname "$SELF")/.." && cargo build --release --locked --quiet --bin rustpgctl) >&2 \
            || die "no rustpgctl (the Debian package, or cargo build --release --bin rustpgctl)"
        echo "${CARGO_TARGET_DIR:-$(dirname "$SELF")/../target}/release/rustpgctl"
    fi
}

switchover_with_rustpgctl() {
    local target=${1:-} old n t0 ctl online=() args=(switchover --timeout "$SWITCHOVER_TIMEOUT")
    ctl=$(rustpgctl_binary)
    n=$(any_node) || die "no node has a running pacemaker"
    old=$(current_primary) || die "no promoted instance to move"
    for n in "${NODES[@]}"; do
        cluster_online "$n" && online+=("$n")
    done
    if [[ -n $target ]]; then
        check_node "$target"
        args+=(--to "$target")
    fi
    t0=$SECONDS
    if ! in_node "$(any_node)" "$ctl" "${args[@]}"; then
        print_crm_mon >&2 || true
        exit 1
    fi
    await_picture "$t0" $((SWITCHOVER_TIMEOUT + 60)) "no complete picture after the switchover" "${online[@]}"
    say "switchover $old -> $(current_primary) done in $((SECONDS - t0)) s"
    print_crm_mon
}

switchover_with_a_ban() {
    local target=${1:-} old sync n t0 online=()
    n=$(any_node) || die "no node has a running pacemaker"
    old=$(current_primary) || die "no promoted instance to move"
    for n in "${NODES[@]}"; do
        cluster_online "$n" && online+=("$n")
    done
    sync=
    for n in "${online[@]}"; do
        [[ $(node_attr "$n" Postgresql-status 2>/dev/null) == HS:sync ]] && sync=$n
    done
    # PAF promotes the standby it elects; it publishes no HS:sync.
    [[ -n $sync || $LAB_AGENT == paf ]] || die "no standby is HS:sync; nothing can be promoted"
    if [[ -n $target && $LAB_AGENT == stock ]]; then
        check_node "$target"
        [[ $target != "$old" ]] || die "$target is already the primary"
        [[ $target == "$sync" ]] || die "only the sync standby ($sync) can be promoted; $target is $(node_attr "$target" Postgresql-status 2>/dev/null || echo unknown)"
    fi
    say "moving the promoted role away from $old (${sync:-the standby PAF elects} takes it)"
    t0=$SECONDS
    n=$(any_node)
    in_node "$n" crm_resource --ban --promoted -r msPostgresql -N "$old" --quiet
    # The trap runs after this function's locals are gone: $old is
    # expanded now.
    # shellcheck disable=SC2064
    trap "in_node \"\$(any_node)\" crm_resource --clear -r msPostgresql -N $(printf %q "$old") --quiet >/dev/null 2>&1 || true" EXIT
    moved() {
        local p
        p=$(current_primary) || return 1
        [[ $p != "$old" ]] || return 1
        [[ $(node_role "$old") == Unpromoted ]] || return 1
        [[ $LAB_AGENT == paf || $(node_attr "$old" Postgresql-status 2>/dev/null) == HS:* ]]
    }
    if ! wait_for "$SWITCHOVER_TIMEOUT" "another node to be promoted and $old to be a standby" moved; then
        print_crm_mon >&2 || true
        exit 1
    fi
    local new
    new=$(current_primary)
    say "$new is the primary, $old is $(node_attr "$old" Postgresql-status || node_role "$old") after $((SECONDS - t0)) s; clearing the ban"
    in_node "$(any_node)" crm_resource --clear -r msPostgresql -N "$old" --quiet
    trap - EXIT
    await_picture "$t0" $((SWITCHOVER_TIMEOUT + 60)) "no complete picture after the switchover" "${online[@]}"
    say "switchover $old -> $new done in $((SECONDS - t0)) s"
    print_crm_mon
}

# roles_as_before PRIMARY [STANDBY...]: crm_mon shows these roles.
roles_as_before() {
    local s
    [[ $(node_role "$1") == Promoted ]] || return 1
    for s in "${@:2}"; do
        [[ $(node_role "$s") == Unpromoted ]] || return 1
    done
}

cmd_rep_mode() {
    check_names
    local mode=${1:-} n t0=$SECONDS params=() p
    case $mode in
        sync | async | quorum) ;;
        *) die "usage: $0 rep-mode sync|async|quorum" ;;
    esac
    [[ $LAB_AGENT == ours ]] || die "rep-mode: only with LAB_AGENT=ours"
    [[ $mode != "$LAB_REP_MODE" ]] || die "rep_mode already is $mode"
    n=$(any_node) || die "no node has a running pacemaker"
    # rep_mode last: the parameters it needs are there when it changes.
    if [[ $mode == quorum ]]; then
        params+=("quorum_standbys=$LAB_QUORUM_STANDBYS")
        ((LAB_QUORUM_STANDBYS < 2)) || params+=(replication_slot_name=lab)
    fi
    params+=("rep_mode=$mode")
    say "rep_mode: $LAB_REP_MODE -> $mode (${params[*]}; Pacemaker restarts the resource)"
    if [[ $LAB_CONFIG == pcs ]]; then
        in_node "$n" pcs resource update Postgresql "${params[@]}"
    else
        for p in "${params[@]}"; do
            in_node "$n" crm resource param Postgresql set "${p%%=*}" "${p#*=}"
        done
    fi
    LAB_REP_MODE=$mode
    echo "$LAB_AGENT $LAB_REP_MODE $LAB_PG_MAJOR" >"$LAB_ROOT/agent"
    await_picture "$t0" 240 "the cluster did not reach the picture of rep_mode=$mode within 240 s" \
        "${NODES[@]}"
    say "rep_mode=$mode in $((SECONDS - t0)) s"
}

# Change the provider of the live Postgresql primitive with crmsh or pcs,
# as an operator would: the commands of docs/migration.md, each printed as
# "$ COMMAND" before it runs (the drop-in test checks that the document
# shows every one). Maintenance mode, the provider and nothing else (the
# way back first removes what the stock agent does not know: our
# parameters, our server settings, our attributes and files), a refresh
# so that the new agent probes every instance (it finds them as they are:
# no stop, no start, no promotion), maintenance mode off. PostgreSQL keeps
# running throughout; the attributes the old agent left are taken over as
# they are.
# A command line as an operator types it: words that need it in single
# quotes.
shown() {
    local w out=()
    for w; do
        if [[ $w =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+=("$w")
        else
            out+=("'${w//\'/\'\\\'\'}'")
        fi
    done
    echo "${out[*]}"
}

cmd_switch_provider() {
    check_names
    local provider= tool=crm shipped=0 arg n m old before after expected primary t0=$SECONDS online=() others=() hosts=()
    for arg; do
        case $arg in
            rustpg | heartbeat) provider=$arg ;;
            crm | pcs) tool=$arg ;;
            --as-shipped) shipped=1 ;;
            *) die "usage: $0 switch-provider rustpg|heartbeat [crm|pcs] [--as-shipped]" ;;
        esac
    done
    case $provider in
        rustpg) [[ -x $AGENT ]] || die "$AGENT is missing: run scripts/install.sh first" ;;
        heartbeat)
            [[ -f $LAB_ROOT/ocf-shellfuncs ]] \
                || die "the stock agent needs the patched ocf-shellfuncs: make the lab with LAB_AGENT=stock"
            ((!shipped)) || die "--as-shipped: only on the way to rustpg"
            ;;
        *) die "usage: $0 switch-provider rustpg|heartbeat [crm|pcs] [--as-shipped]" ;;
    esac
    n=$(any_node) || die "no node has a running pacemaker"
    # Print each operator command, then run it: step on any node,
    # step_on NODE on that one (printed with "# on NODE").
    step() {
        say "\$ $(shown "$@")"
        in_node "$n" "$@"
    }
    step_on() {
        local on=$1
        shift
        say "\$ $(shown "$@")   # on $on"
        in_node "$on" "$@"
    }
    maintenance() {
        if [[ $tool == pcs ]]; then
            step pcs property set "maintenance-mode=$1"
        else
            step crm configure property "maintenance-mode=$1"
        fi
    }
    refresh() {
        if [[ $tool == pcs ]]; then
            step pcs resource refresh Postgresql "node=$1"
        else
            step crm resource refresh Postgresql "$1"
        fi
    }
    before=$(in_node "$n" cibadmin --query --xpath "//primitive[@id='Postgresql']") \
        || die "no primitive Postgresql in the CIB"
    old=$(xmllint --xpath 'string(/primitive/@provider)' - <<<"$before")
    [[ $old != "$provider" ]] || die "Postgresql already is ocf:$provider:pgsql"
    primary=$(current_primary) || die "no promoted instance of Postgresql"
    for m in "${NODES[@]}"; do
        cluster_online "$m" || continue
        online+=("$m")
        [[ $m == "$primary" ]] || others+=("$m")
    done
    say "Postgresql: ocf:$old:pgsql -> ocf:$provider:pgsql with $tool (primary $primary, standbys ${others[*]})"
    if [[ $provider != rustpg ]] && grep -qE '"(replication_hosts|external_standby_node_list)"' \
        <<<"$(xmllint --xpath '//instance_attributes/nvpair/@name' - <<<"$before")"; then
        die "remove replication_hosts and external_standby_node_list first, with the cluster managed: lab/cluster.sh before-going-back (docs/migration.md, \"Before going back\")"
    fi
    maintenance true
    trap 'echo "cluster: switch-provider failed; the cluster is still in maintenance mode" >&2' EXIT
    # Maintenance mode cancels the old agent's recurring monitors; one that
    # is already running goes on, and must not see the refresh below.
    step crm_resource --wait
    old_agent_idle() {
        local m
        for m in "${online[@]}"; do
            ! in_node "$m" pgrep -f "/usr/lib/ocf/resource.d/$old/pgsql( |$)" >/dev/null || return 1
        done
    }
    say "\$ pgrep -af /usr/lib/ocf/resource.d/$old/pgsql   # on every node, until it prints nothing"
    wait_for 60 "the running actions of ocf:$old:pgsql to end" old_agent_idle \
        || { print_crm_mon >&2 || true; exit 1; }
    [[ $provider == rustpg ]] || {
        leave_rustpg
        before=$(in_node "$n" cibadmin --query --xpath "//primitive[@id='Postgresql']")
    }
    step cibadmin --modify --xml-text "<primitive id=\"Postgresql\" provider=\"$provider\"/>"
    after=$(in_node "$n" cibadmin --query --xpath "//primitive[@id='Postgresql']")
    expected=${before/provider=\"$old\"/provider=\"$provider\"}
    [[ $after == "$expected" ]] || die "the primitive changed in more than its provider: $(diff <(echo "$before") <(echo "$after"))"
    if ((shipped)); then
        # The settings crm-examples/ ship beside the stock ones, in the
        # same window: those with which it heals itself (docs/operations.md,
        # "When the cluster waits for you") and each node's own address.
        for m in "${NODES[@]}"; do hosts+=("$m=$(node_ip "$m")"); done
        if [[ $tool == pcs ]]; then
            step pcs resource defaults update failure-timeout=10s
            step pcs resource update Postgresql auto_rewind=true
            step pcs resource update Postgresql "replication_hosts=${hosts[*]}"
        else
            step crm configure rsc_defaults failure-timeout=10s
            step crm resource param Postgresql set auto_rewind true
            step crm resource param Postgresql set replication_hosts "${hosts[*]}"
        fi
    fi
    # Forget the old agent's operation history so that the new agent
    # probes: on the primary first. A standby probed while crm_mon shows no
    # promoted instance takes the stock "Master does not exist" branch: it
    # sets itself HS:alone with score -INFINITY and publishes an xlog-loc
    # that nothing deletes afterwards (docs/migration.md).
    refresh "$primary"
    step crm_resource --wait
    wait_for 60 "the probe of ocf:$provider:pgsql to find $primary promoted" \
        roles_as_before "$primary" || { print_crm_mon >&2 || true; exit 1; }
    for m in "${others[@]}"; do
        refresh "$m"
    done
    step crm_resource --wait
    wait_for 60 "the probes of ocf:$provider:pgsql to find $primary promoted and ${others[*]} unpromoted" \
        roles_as_before "$primary" "${others[@]}" || { print_crm_mon >&2 || true; exit 1; }
    say "probed after $((SECONDS - t0)) s; leaving maintenance mode"
    maintenance false
    trap - EXIT
    await_picture "$t0" 150 "no complete picture after switching to ocf:$provider:pgsql" "${online[@]}"
    say "Postgresql is ocf:$provider:pgsql; picture complete after $((SECONDS - t0)) s"
    print_crm_mon
}

# delete_params NAME...: each of the primitive's parameters named that its
# configuration has, with the operator's tool (pcs: an empty value). Uses
# the caller's present, tool and step.
delete_params() {
    local p
    for p; do
        [[ $present == *"\"$p\""* ]] || continue
        if [[ $tool == pcs ]]; then
            step pcs resource update Postgresql "$p="
        else
            step crm resource param Postgresql delete "$p"
        fi
    done
}

# Before going back, still managed: the parameters whose removal our
# monitors must act on (docs/migration.md, "Before going back").
# replication_hosts: each standby points primary_conninfo (in
# postgresql.auto.conf and the stock recovery.conf) back at master_ip;
# external_standby_node_list (unknown to older stock agents): the list
# drops the outside standbys. Pacemaker may restart a standby for it.
cmd_before_going_back() {
    check_names
    local tool=${1:-crm} p present m n primary before online=()
    [[ $tool == crm || $tool == pcs ]] || die "usage: $0 before-going-back [crm|pcs]"
    n=$(any_node) || die "no node has a running pacemaker"
    step() {
        say "\$ $(shown "$@")"
        in_node "$n" "$@"
    }
    before=$(in_node "$n" cibadmin --query --xpath "//primitive[@id='Postgresql']") \
        || die "no primitive Postgresql in the CIB"
    [[ $before == *'provider="rustpg"'* ]] || die "Postgresql is not ocf:rustpg:pgsql"
    primary=$(current_primary) || die "no promoted instance of Postgresql"
    for m in "${NODES[@]}"; do
        cluster_online "$m" && online+=("$m")
    done
    present=$(xmllint --xpath '//instance_attributes/nvpair/@name' - <<<"$before")
    delete_params replication_hosts external_standby_node_list
    # Every primary_conninfo a standby has (ours, and the stock copy)
    # names master_ip.
    names_master_ip() {
        local m lines
        for m in "${online[@]}"; do
            [[ $m == "$primary" ]] && continue
            lines=$(in_node "$m" grep -h '^primary_conninfo' /var/lib/pgsql/data/postgresql.auto.conf \
                /var/lib/pgsql/tmp/recovery.conf) || true
            [[ -z $lines ]] || ! grep -qvF -e "host=$VIP " -e "host=''$VIP''" <<<"$lines" || return 1
        done
    }
    say "\$ grep primary_conninfo /var/lib/pgsql/data/postgresql.auto.conf /var/lib/pgsql/tmp/recovery.conf   # on every standby, until both name master_ip"
    wait_for 60 "every standby's primary_conninfo to name master_ip" names_master_ip \
        || { print_crm_mon >&2 || true; exit 1; }
    await_picture "$SECONDS" 120 "no complete picture before going back" "${online[@]}"
    say "ready to go back: every standby streams from master_ip"
}

# Our notes in tmpdir, which the stock agent neither reads nor removes.
OUR_NOTES="election_deferred former_primary history_published promotion_note recovered_in_place rewind_unfinished sync_ceiling sync_flag weak_commits own_config.*"

# The way back, in maintenance mode, before the provider changes: take out
# what the stock agent does not know (docs/migration.md, "What the agent
# added"). Uses switch-provider's before, n, tool, online, step and step_on.
leave_rustpg() {
    local p m name attr lifetime present auto=/var/lib/pgsql/data/postgresql.auto.conf ours
    # Our parameters, while the resource is still ours (pcs checks names
    # against the agent's meta-data).
    present=$(xmllint --xpath '//instance_attributes/nvpair/@name' - <<<"$before")
    [[ $(xmllint --xpath 'string(//instance_attributes/nvpair[@name="rep_mode"]/@value)' - <<<"$before") != quorum ]] \
        || die "rep_mode=quorum is ours: set rep_mode=sync first and wait for its picture"
    delete_params auto_rewind auto_resync max_slot_wal_keep_size quorum_standbys
    # Our server settings in postgresql.auto.conf, which PostgreSQL reads
    # after the stock agent's included rep_mode.conf and recovery.conf.
    # On the primary, the sync standby's name falls back to the stock
    # agent's rep_mode.conf, which this agent keeps with the same value.
    ours=$(in_node "$primary" grep "^synchronous_standby_names = " "$auto" || true)
    if [[ -n $ours ]]; then
        say "\$ grep synchronous_standby_names $auto /var/lib/pgsql/tmp/rep_mode.conf   # on $primary"
        in_node "$primary" grep -qxF "$ours" /var/lib/pgsql/tmp/rep_mode.conf \
            || die "$primary: rep_mode.conf does not hold $ours; not resetting it"
        in_node "$primary" grep -q "^include '/var/lib/pgsql/tmp/rep_mode.conf'" /var/lib/pgsql/data/postgresql.conf \
            || die "$primary: postgresql.conf does not include rep_mode.conf; not resetting $ours"
        say "\$ runuser -u postgres -- psql -XAt -d postgres -c 'SHOW synchronous_standby_names'   # on $primary"
        [[ "synchronous_standby_names = '$(in_node "$primary" runuser -u postgres -- psql -XAt -d postgres \
            -c 'SHOW synchronous_standby_names' | sed "s/'/''/g")'" == "$ours" ]] \
            || die "$primary: the list in effect is not the one in postgresql.auto.conf; not resetting it"
    fi
    # On every node, from PostgreSQL 12 on, the stock recovery.conf
    # takes primary_conninfo over: it must be included.
    if ((LAB_PG_MAJOR >= 12)); then
        for m in "${online[@]}"; do
            say "\$ grep 'added by pgsql RA' /var/lib/pgsql/data/postgresql.conf   # on $m"
            in_node "$m" grep -q "^include '/var/lib/pgsql/tmp/recovery.conf'" /var/lib/pgsql/data/postgresql.conf \
                || die "$m: postgresql.conf does not include recovery.conf; add the stock line first (docs/migration.md)"
        done
    fi
    for m in "${online[@]}"; do
        for name in synchronous_standby_names primary_conninfo primary_slot_name restore_command \
            recovery_target_timeline archive_cleanup_command recovery_end_command \
            wal_retrieve_retry_interval max_slot_wal_keep_size; do
            in_node "$m" grep -q "^$name = " "$auto" || continue
            step_on "$m" runuser -u postgres -- psql -X -d postgres -c "ALTER SYSTEM RESET $name"
        done
        step_on "$m" runuser -u postgres -- psql -X -d postgres -c "SELECT pg_reload_conf()"
    done
    # Our node attributes (the stock agent neither reads nor removes them),
    # on every node of node_list: crm_mon does not show an offline node's.
    for m in "${NODES[@]}"; do
        for attr in acked-also-on:forever acked-on-any:forever promotions:forever xlog-tli:reboot; do
            name=Postgresql-${attr%%:*} lifetime=${attr#*:}
            in_node "$n" crm_attribute --node "$m" --name "$name" --lifetime "$lifetime" --query >/dev/null 2>&1 \
                || continue
            step crm_attribute --node "$m" --name "$name" --lifetime "$lifetime" --delete
        done
    done
    # Our private attributes (attrd's alone; they would go with the
    # node's Pacemaker).
    for m in "${NODES[@]}"; do
        for name in Postgresql-position Postgresql-history; do
            in_node "$n" attrd_updater --query --name "$name" --node "$m" >/dev/null 2>&1 || continue
            step attrd_updater --delete --name "$name" --node "$m"
        done
    done
    # Our notes in tmpdir.
    for m in "${online[@]}"; do
        say "\$ cd /var/lib/pgsql/tmp && rm -f $OUR_NOTES   # on $m"
        in_node "$m" sh -c "cd /var/lib/pgsql/tmp && rm -f $OUR_NOTES"
    done
}

usage() {
    echo "usage:" >&2
    grep -E '^#   lab/cluster.sh|^#  {20,}' "$SELF" | sed 's/^#   /  /' >&2
    exit 2
}

need_node() { (($# >= 2)) || die "usage: $0 $1 NODE"; }

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    crm_mon) check_names && print_crm_mon ;;
    picture)
        shift
        check_names
        (($#)) || set -- "${NODES[@]}"
        for n in "$@"; do check_node "$n"; done
        picture "$@"
        ;;
    exec)
        shift
        (($# >= 2)) || die "usage: $0 exec NODE CMD [ARG...]"
        check_names
        check_node "$1"
        in_node "$@"
        ;;
    sql) shift && cmd_sql sql "$VIP" 5432 "$@" ;;
    bouncer-sql) shift && cmd_sql bouncer-sql "$BOUNCER_VIP" 6432 "$@" ;;
    fence-history) cmd_fence_history ;;
    stack-at-boot) need_node "$@" && cmd_stack_at_boot "$2" "${3:-}" ;;
    sync-disk) need_node "$@" && check_names && check_node "$2" && crashfs_do "$2" sync ;;
    _fence-daemon) fence_daemon ;;
    crash) need_node "$@" && cmd_crash "$2" ;;
    revive) need_node "$@" && cmd_revive "$2" ;;
    stop-node) need_node "$@" && cmd_stop_node "$2" ;;
    start-node) need_node "$@" && cmd_start_node "$2" ;;
    partition) need_node "$@" && cmd_partition "$2" down ;;
    heal) need_node "$@" && cmd_partition "$2" up ;;
    switchover) shift && cmd_switchover "$@" ;;
    switch-provider) shift && cmd_switch_provider "$@" ;;
    before-going-back) shift && cmd_before_going_back "$@" ;;
    rep-mode) shift && cmd_rep_mode "$@" ;;
    dr) shift && cmd_dr "$@" ;;
    _node-init) node_init "$2" "$3" ;;
    *) usage ;;
esac
