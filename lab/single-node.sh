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
# 10.213.0.11/24: no default route, no NAT, no link to the host) and one
# holder process, PID 1 of its own mount/uts/ipc/pid namespaces, that only
# reaps orphans. Every path pacemaker, corosync and PostgreSQL write to is
# a tmpfs or a bind mount of a directory under LAB_ROOT, so the host's own
# /var/lib/pacemaker, /etc/corosync, ... are never touched. The only host
# change is the empty mountpoint /var/lib/pgsql (created if missing).
set -euo pipefail

LAB_ROOT=${LAB_ROOT:-/var/tmp/rustpg-lab1}
NETNS=${LAB_NETNS:-rustpg-n1}
NODE=pg01
NODE_IP=10.213.0.11
NODE_PATH=/usr/sbin:/usr/bin:/sbin:/bin
PG_BIN=/usr/lib/postgresql/15/bin
AGENT=/usr/lib/ocf/resource.d/rustpg/pgsql
SELF=$(readlink -f "$0")
CRM_FILE=$(readlink -f "$(dirname "$SELF")/../crm-examples/standalone.crm")
MARKER=.rustpg-lab   # only a dir holding this file is ever removed by down

die() { echo "single-node: $*" >&2; exit 1; }
say() { echo "single-node: $*"; }

check_names() {
    [[ $LAB_ROOT == /* ]] || die "LAB_ROOT must be an absolute path: $LAB_ROOT"
    # One spelling per lab: the holder is recognised by this exact path.
    LAB_ROOT=$(realpath -m -- "$LAB_ROOT")
    [[ $LAB_ROOT =~ ^/[^/]+/. ]] || die "LAB_ROOT must be at least two levels deep: $LAB_ROOT"
    [[ $NETNS =~ ^[A-Za-z0-9_.-]{1,64}$ ]] || die "bad LAB_NETNS: $NETNS"
}

# --- the holder (PID 1 of the node) -----------------------------------------

# PID 1 of the node: reaps every child at once (SIGCHLD), so a killed
# postmaster does not linger as a zombie that still "exists" for kill -0.
# argv carries "rustpg-lab-reaper <LAB_ROOT>" so down can recognise it.
REAPER='
import os, signal, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
while True:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
    signal.sigtimedwait({signal.SIGCHLD}, 5)
'

# Runs inside the fresh namespaces (already PID 1), as root.
node_init() {
    local root=$1 n=$1/node
    export PATH=$NODE_PATH
    hostname "$NODE"
    # Drop our copies of the host's netns handles: otherwise they would keep
    # other labs' network namespaces alive after their `ip netns del`.
    umount -l /run/netns 2>/dev/null || true
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
    local pair
    for pair in pacemaker-lib:/var/lib/pacemaker pacemaker-log:/var/log/pacemaker \
        corosync-lib:/var/lib/corosync corosync-etc:/etc/corosync \
        corosync-log:/var/log/corosync pgsql:/var/lib/pgsql \
        postgresql-log:/var/log/postgresql crmsh-log:/var/log/crmsh hosts:/etc/hosts; do
        mount --bind "$n/${pair%%:*}" "${pair#*:}"
    done
    install -d -o hacluster -g haclient -m 0750 /run/crm
    install -d -o postgres -g postgres -m 2775 /run/postgresql
    touch "$root/ready"
    exec python3 -c "$REAPER" rustpg-lab-reaper "$root"
}

# The holder's host pid, if it is alive and really ours (pids get reused).
holder_pid() {
    local pid
    pid=$(cat "$LAB_ROOT/holder.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    local -a argv
    mapfile -d '' -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    [[ ${#argv[@]} -ge 5 && ${argv[3]} == rustpg-lab-reaper && ${argv[4]} == "$LAB_ROOT" ]] || return 1
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    echo "$pid"
}

is_up() { holder_pid >/dev/null; }

# Run a command inside the node with a clean environment.
in_node() {
    local pid
    pid=$(holder_pid) || die "the lab is not up (LAB_ROOT=$LAB_ROOT)"
    nsenter -t "$pid" -m -u -i -n -p --wd=/ \
        env -i PATH="$NODE_PATH" LANG=C.UTF-8 HOME=/tmp "$@"
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll once a second.
wait_for() {
    local secs=$1 what=$2 t=0
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((++t <= secs)) || { echo "single-node: timed out after ${secs}s waiting for $what" >&2; return 1; }
        sleep 1
    done
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
    install -d -m 0755 "$n"
    install -d -o hacluster -g haclient -m 0750 "$n/pacemaker-lib"
    local d
    for d in cib pengine blackbox cores; do
        install -d -o hacluster -g haclient -m 0750 "$n/pacemaker-lib/$d"
    done
    install -d -o hacluster -g haclient -m 0770 "$n/pacemaker-log"
    install -d -m 0700 "$n/corosync-lib"
    install -d -m 0755 "$n/corosync-etc" "$n/corosync-etc/uidgid.d" "$n/corosync-log"
    install -d -o postgres -g postgres -m 0700 "$n/pgsql"
    install -d -o postgres -g postgres -m 1775 "$n/postgresql-log"
    install -d -o hacluster -g haclient -m 0775 "$n/crmsh-log"
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

    # A first CIB with dc-deadtime=5s: a fresh node otherwise waits the
    # default 20 s before electing itself DC. Everything else is loaded
    # later with crmsh.
    local cib=$n/pacemaker-lib/cib/cib.xml
    cibadmin --empty >"$cib"
    CIB_file=$cib crm_attribute --type crm_config --name dc-deadtime --update 5s
    chown hacluster:haclient "$cib"
    chmod 0600 "$cib"
}

start_holder() {
    rm -f "$LAB_ROOT/ready"
    # setsid: the holder outlives this script and owns no terminal.
    # --kill-child: if unshare dies, the node dies with it.
    setsid ip netns exec "$NETNS" \
        unshare --mount --uts --ipc --pid --fork --kill-child --propagation private --mount-proc \
        env -i PATH="$NODE_PATH" LANG=C.UTF-8 "$SELF" _node-init "$LAB_ROOT" \
        </dev/null >>"$LAB_ROOT/holder.log" 2>&1 &
    local upid=$! t=0 pid=
    echo "$upid" >"$LAB_ROOT/unshare.pid"
    until [[ -e $LAB_ROOT/ready ]] && pid=$(pgrep -P "$upid") && [[ -n $pid ]]; do
        kill -0 "$upid" 2>/dev/null || die "the node did not start: $(tail -5 "$LAB_ROOT/holder.log")"
        ((++t <= 100)) || die "the node did not get ready in 10 s"
        sleep 0.1
    done
    echo "$pid" >"$LAB_ROOT/holder.pid"
    wait_for 5 "the node's reaper" is_up
}

init_postgres() {
    in_node runuser -u postgres -- "$PG_BIN/initdb" -D /var/lib/pgsql/data \
        --auth-local=peer --auth-host=scram-sha-256 -U postgres -E UTF8 --locale=C.UTF-8 \
        --no-sync --no-instructions >"$LAB_ROOT/initdb.log"
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
    if [[ ! -d /var/lib/pgsql ]]; then
        install -d -m 0755 /var/lib/pgsql
        touch "$LAB_ROOT/created-var-lib-pgsql"
    fi
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
    start_holder

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

not_running() { ! in_node pidof "$1"; }

# Wait until a pid is gone or a zombie; true if it went.
wait_gone() {
    local pid=$1 tries=$2
    while ((tries-- > 0)); do
        [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 0
        sleep 0.2
    done
    return 1
}

cmd_down() {
    check_names
    if [[ ! -e $LAB_ROOT/$MARKER ]]; then
        say "no lab in $LAB_ROOT; nothing to do"
        return 0
    fi
    local pid
    if pid=$(holder_pid); then
        say "stopping pacemaker (this stops PostgreSQL) and corosync"
        in_node pacemakerd --shutdown >/dev/null 2>&1 || true
        wait_for 60 "pacemakerd to exit" not_running pacemakerd || true
        in_node corosync-cfgtool -H --force >/dev/null 2>&1 || true
        wait_for 10 "corosync to exit" not_running corosync || true
        # PID 1 of a pid namespace takes every process of the node with it.
        kill -KILL "$pid"
        wait_gone "$pid" 100 || die "holder $pid did not die"
    fi
    # The unshare parent exits with its child; kill it only if it is ours.
    local upid
    upid=$(cat "$LAB_ROOT/unshare.pid" 2>/dev/null) || upid=
    if [[ $upid =~ ^[0-9]+$ ]] && grep -qsF -- "$LAB_ROOT" "/proc/$upid/cmdline"; then
        kill -KILL "$upid" 2>/dev/null || true
        wait_gone "$upid" 50 || true
    fi
    local ns
    ns=$(cat "$LAB_ROOT/netns" 2>/dev/null) || ns=
    if [[ -n $ns ]] && ip netns pids "$ns" >/dev/null 2>&1; then
        say "deleting network namespace $ns"
        ip netns del "$ns"
    fi
    # The mountpoint goes only if we made it and no mount namespace (another
    # lab) still mounts something on it.
    # (grep -q: a match wins over errors from processes that just exited.)
    if [[ -e $LAB_ROOT/created-var-lib-pgsql ]] \
        && ! grep -qsE '^([^ ]+ ){4}/var/lib/pgsql ' /proc/[0-9]*/mountinfo; then
        rmdir /var/lib/pgsql 2>/dev/null || true
    fi
    # No mount of ours remains (the node's mounts died with its namespace);
    # --one-file-system guards against anything mounted here by hand.
    rm -rf --one-file-system -- "$LAB_ROOT"
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
