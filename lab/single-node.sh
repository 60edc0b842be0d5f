#!/usr/bin/env bash
# A one-node Pacemaker + Corosync cluster running PostgreSQL 15 through
# ocf:rustpg:pgsql, started by hand (no systemd) inside private namespaces.
#
#   lab/single-node.sh up | down | status | exec CMD...
#
# Environment: LAB_ROOT (state dir, default /var/tmp/rustpg-lab1) and
# LAB_NETNS (network namespace name, default rustpg-n1). Run as root.
#
# The node "pg01" is one network namespace (lo + an isolated interface with
# 10.213.0.11/24: no default route, no NAT, no link to the host) plus a
# holder process with private mounts of the directories under
# LAB_ROOT/node (lab/common.sh, shared with lab/cluster.sh).
set -euo pipefail

LAB_ROOT=${LAB_ROOT:-/var/tmp/rustpg-lab1}
NETNS=${LAB_NETNS:-rustpg-n1}
NODE=pg01
NODE_IP=10.213.0.11
PG_BIN=/usr/lib/postgresql/15/bin
AGENT=/usr/lib/ocf/resource.d/rustpg/pgsql
SELF=$(readlink -f "$0")
CRM_FILE=$(readlink -f "$(dirname "$SELF")/../crm-examples/standalone.crm")
MARKER=.rustpg-lab   # only a dir holding this file is ever removed by down

LAB_NAME=single-node
# shellcheck source=lab/common.sh
. "$(dirname "$SELF")/common.sh"

check_names() {
    [[ $LAB_ROOT == /* ]] || die "LAB_ROOT must be an absolute path: $LAB_ROOT"
    # One spelling per lab: the holder is recognised by this exact path.
    LAB_ROOT=$(realpath -m -- "$LAB_ROOT")
    [[ $LAB_ROOT =~ ^/[^/]+/. ]] || die "LAB_ROOT must be at least two levels deep: $LAB_ROOT"
    [[ $NETNS =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "bad LAB_NETNS: $NETNS"
}

# --- the node ----------------------------------------------------------------

# Runs inside the fresh namespaces (already PID 1), as root.
node_init() {
    local root=$1
    private_mounts "$root/node" "$NODE"
    become_reaper "$root/node" "$root"
}

holder_pid() { reaper_pid "$LAB_ROOT/node" "$LAB_ROOT"; }

is_up() { holder_pid >/dev/null; }

# Run a command inside the node with a clean environment.
in_node() {
    local pid
    pid=$(holder_pid) || die "the lab is not up (LAB_ROOT=$LAB_ROOT)"
    in_holder "$pid" "$@"
}

crm_xml() { in_node crm_mon -1 --output-as=xml 2>/dev/null; }

node_online() {
    local xml
    xml=$(crm_xml) || return 1
    [[ $(xmllint --xpath 'string(//nodes/node[@name="pg01"]/@online)' - <<<"$xml") == true ]] \
        && [[ $(xmllint --xpath 'string(//summary/current_dc/@present)' - <<<"$xml") == true ]]
}

pgsql_started() {
    local xml
    xml=$(crm_xml) || return 1
    [[ $(xmllint --xpath 'string(//resources/resource[@id="pgsql"][@role="Started"][@failed="false"]/node/@name)' - <<<"$xml") == "$NODE" ]]
}

# --- up ---------------------------------------------------------------------

write_node_files() {
    local n=$LAB_ROOT/node
    make_node_dirs "$n"
    printf '127.0.0.1 localhost\n%s %s\n' "$NODE_IP" "$NODE" >"$n/hosts"

    cat >"$n/corosync-etc/corosync.conf" <<EOF
# Written by lab/single-node.sh: a one-node lab cluster.
totem {
    version: 2
    cluster_name: rustpg-demo
    transport: knet
    crypto_cipher: aes256
    crypto_hash: sha256
}
nodelist {
    node {
        name: $NODE
        nodeid: 1
        ring0_addr: $NODE_IP
    }
}
quorum {
    provider: corosync_votequorum
    two_node: 0
    # One node: it is the whole quorum.
    expected_votes: 1
}
logging {
    to_logfile: yes
    logfile: /var/log/corosync/corosync.log
    to_stderr: no
    to_syslog: no
    timestamp: on
}
EOF
    # knet's crypto key; 256 random bytes, readable by root only.
    head -c 256 /dev/urandom >"$n/corosync-etc/authkey"
    chmod 0400 "$n/corosync-etc/authkey"
}

init_postgres() {
    initdb_in in_node
    # The file is the same one the node sees through its bind mount.
    cat >>"$LAB_ROOT/node/pgsql/data/postgresql.conf" <<'EOF'

# lab/single-node.sh
listen_addresses = 'localhost'
port = 5432
unix_socket_directories = '/run/postgresql'
EOF
}

cmd_up() {
    check_names
    [[ $(id -u) == 0 ]] || die "run as root"
    if is_up; then
        say "a lab is already up in $LAB_ROOT (netns $(cat "$LAB_ROOT/netns" 2>/dev/null)); nothing to do"
        exit 0
    fi
    if [[ -e $LAB_ROOT/$MARKER ]]; then
        say "removing the remains of an earlier lab in $LAB_ROOT"
        cmd_down
    fi
    [[ ! -e $LAB_ROOT ]] || die "$LAB_ROOT exists and is not a lab state dir; remove it or set LAB_ROOT"
    [[ -x $AGENT ]] || die "$AGENT is missing: run scripts/install.sh first"
    [[ -f $CRM_FILE ]] || die "missing $CRM_FILE"
    ! ip netns pids "$NETNS" >/dev/null 2>&1 || die "network namespace $NETNS already exists (not ours); set LAB_NETNS"

    local t0=$SECONDS
    up_done=0
    trap '((up_done)) || echo "single-node: up failed; logs are in $LAB_ROOT (daemons.log, node/*-log/). Clean up with: lab/single-node.sh down" >&2' EXIT
    install -d -m 0755 "$LAB_ROOT"
    touch "$LAB_ROOT/$MARKER"
    make_var_lib_pgsql
    write_node_files

    say "network namespace $NETNS: lo + eth0 $NODE_IP/24, no route out"
    ip netns add "$NETNS"
    echo "$NETNS" >"$LAB_ROOT/netns"
    ip -n "$NETNS" link set lo up
    if ! ip -n "$NETNS" link add eth0 type dummy 2>/dev/null; then
        # Kernel without the dummy driver: a bridge with no ports is just as
        # isolated (it carries the address and is linked to nothing).
        ip -n "$NETNS" link add eth0 type bridge
    fi
    ip -n "$NETNS" addr add "$NODE_IP/24" dev eth0
    ip -n "$NETNS" link set eth0 up
    # IPv4 only: nothing in the lab needs IPv6.
    ip netns exec "$NETNS" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true

    say "node $NODE: namespaces and private mounts"
    start_holder "$NETNS" "$LAB_ROOT/node" "$LAB_ROOT"
    wait_for 5 "the node's reaper" is_up

    say "starting corosync and pacemakerd"
    # setsid -f: the daemons are orphaned at once and adopted by the reaper.
    in_node setsid -f corosync -f </dev/null >>"$LAB_ROOT/daemons.log" 2>&1
    wait_for 30 "corosync" in_node corosync-cfgtool -s
    in_node setsid -f pacemakerd </dev/null >>"$LAB_ROOT/daemons.log" 2>&1

    say "initdb PostgreSQL 15 in /var/lib/pgsql/data (while the cluster forms)"
    init_postgres

    wait_for 90 "$NODE to be online with a DC" node_online
    say "cluster formed after $((SECONDS - t0)) s; loading $(basename "$CRM_FILE")"
    # The repo is visible inside the node (only the paths above are private).
    in_node crm configure load update "$CRM_FILE"
    wait_for 60 "resource pgsql to be Started" pgsql_started
    # shellcheck disable=SC2034  # read by the EXIT trap
    up_done=1
    say "up in $((SECONDS - t0)) s"
    in_node crm_mon -1 -Afr
}

# --- down -------------------------------------------------------------------

cmd_down() {
    check_names
    if [[ ! -e $LAB_ROOT/$MARKER ]]; then
        say "no lab in $LAB_ROOT; nothing to do"
        return 0
    fi
    # The node powered off: the lab and its data go, so a clean stop of
    # Pacemaker and PostgreSQL would buy nothing.
    say "powering the node off"
    kill_holder "$LAB_ROOT/node" "$LAB_ROOT"
    local ns
    ns=$(cat "$LAB_ROOT/netns" 2>/dev/null) || ns=
    if [[ -n $ns ]] && ip netns pids "$ns" >/dev/null 2>&1; then
        say "deleting network namespace $ns"
        ip netns del "$ns"
    fi
    remove_lab_root
    say "lab $LAB_ROOT is down"
}

# --- status / exec ----------------------------------------------------------

cmd_status() {
    check_names
    local pid
    if ! pid=$(holder_pid); then
        say "down (LAB_ROOT=$LAB_ROOT)"
        return 3
    fi
    say "up: LAB_ROOT=$LAB_ROOT netns=$(cat "$LAB_ROOT/netns") holder pid=$pid"
    in_node crm_mon -1 -Afr
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    exec)
        shift
        (($#)) || die "usage: $0 exec CMD [ARG...]"
        check_names
        in_node "$@"
        ;;
    _node-init) node_init "$2" ;;
    *) die "usage: $0 up|down|status|exec CMD..." ;;
esac
