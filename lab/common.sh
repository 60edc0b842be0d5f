# shellcheck shell=bash
# What lab/cluster.sh and lab/single-node.sh share, sourced by both after
# they set LAB_NAME (the prefix of their messages), LAB_ROOT and SELF.
#
# A node is a network namespace plus one holder process: PID 1 of its own
# mount/uts/ipc/pid namespaces, which only reaps orphans. /run, /dev/shm and
# /tmp are tmpfs; every path pacemaker, corosync, crmsh and PostgreSQL write
# to is a bind mount of a directory of the node's state dir (NODE_MOUNTS),
# so the host's own files are never touched. The only host change is the
# empty mountpoint /var/lib/pgsql (created if missing, removed by down).

NODE_PATH=/usr/sbin:/usr/bin:/sbin:/bin

die() { echo "$LAB_NAME: $*" >&2; exit 1; }
say() { echo "$LAB_NAME: $*"; }

# wait_for SECONDS DESCRIPTION COMMAND...: poll twice a second until
# COMMAND succeeds, for at most SECONDS (wall clock: a slow COMMAND does not
# stretch the bound).
wait_for() {
    local secs=$1 what=$2 deadline=$((SECONDS + $1))
    shift 2
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { echo "$LAB_NAME: timed out after ${secs}s waiting for $what" >&2; return 1; }
        sleep 0.5
    done
}

# Wait until a pid is gone or a zombie; true if it went.
wait_gone() {
    local pid=$1 tries=$2
    while ((tries-- > 0)); do
        [[ -e /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 0
        sleep 0.2
    done
    return 1
}

# <directory of the node's state dir>:<where the node sees it>
NODE_MOUNTS=(
    pacemaker-lib:/var/lib/pacemaker pacemaker-log:/var/log/pacemaker
    corosync-lib:/var/lib/corosync corosync-etc:/etc/corosync
    corosync-log:/var/log/corosync pgsql:/var/lib/pgsql pghome:/var/lib/postgresql
    postgresql-log:/var/log/postgresql crmsh-log:/var/log/crmsh hosts:/etc/hosts
)

# make_node_dirs DIR: the node's private directories, owned as the daemons
# expect them, and a first CIB with dc-deadtime=5s (a fresh cluster
# otherwise waits the default 20 s before electing a DC; everything else is
# loaded later with crmsh). The caller writes DIR/hosts and corosync.conf.
make_node_dirs() {
    local n=$1 d
    install -d -m 0755 "$n"
    install -d -o hacluster -g haclient -m 0750 "$n/pacemaker-lib"
    for d in cib pengine blackbox cores; do
        install -d -o hacluster -g haclient -m 0750 "$n/pacemaker-lib/$d"
    done
    install -d -o hacluster -g haclient -m 0770 "$n/pacemaker-log"
    install -d -m 0700 "$n/corosync-lib"
    install -d -m 0755 "$n/corosync-etc" "$n/corosync-etc/uidgid.d" "$n/corosync-log"
    install -d -o postgres -g postgres -m 0700 "$n/pgsql"
    install -d -o postgres -g postgres -m 0755 "$n/pghome"
    install -d -o postgres -g postgres -m 1775 "$n/postgresql-log"
    install -d -o hacluster -g haclient -m 0775 "$n/crmsh-log"
    local cib=$n/pacemaker-lib/cib/cib.xml
    cibadmin --empty >"$cib"
    CIB_file=$cib crm_attribute --type crm_config --name dc-deadtime --update 2s
    chown hacluster:haclient "$cib"
    chmod 0600 "$cib"
}

# initdb_in RUN...: a fresh /var/lib/pgsql/data, made as postgres through
# RUN (the caller's way into the node; PG_SERVER_BIN or else PG_BIN, and
# LAB_PG_MAJOR, are the caller's), its output in LAB_ROOT/initdb.log.
initdb_in() {
    local quiet=(--no-sync)
    ((${LAB_PG_MAJOR:-15} >= 14)) && quiet+=(--no-instructions)
    "$@" runuser -u postgres -- "${PG_SERVER_BIN:-$PG_BIN}/initdb" -D /var/lib/pgsql/data \
        --auth-local=peer --auth-host=scram-sha-256 -U postgres -E UTF8 --locale=C.UTF-8 \
        "${quiet[@]}" >"$LAB_ROOT/initdb.log"
}

# The mountpoint the nodes bind their PostgreSQL directory on.
make_var_lib_pgsql() {
    if [[ ! -d /var/lib/pgsql ]]; then
        install -d -m 0755 /var/lib/pgsql
        touch "$LAB_ROOT/created-var-lib-pgsql"
    fi
}

# The end of `down`: the mountpoint goes only if we made it and no mount
# namespace (another lab) still mounts something on it; then LAB_ROOT. No
# mount of ours remains (the nodes' mounts died with their namespaces);
# --one-file-system guards against anything mounted here by hand.
remove_lab_root() {
    # (grep -q: a match wins over errors from processes that just exited.)
    if [[ -e $LAB_ROOT/created-var-lib-pgsql ]] \
        && ! grep -qsE '^([^ ]+ ){4}/var/lib/pgsql ' /proc/[0-9]*/mountinfo; then
        rmdir /var/lib/pgsql 2>/dev/null || true
    fi
    rm -rf --one-file-system -- "$LAB_ROOT"
}

# --- the holder (PID 1 of a node) -------------------------------------------

# Reaps every child at once (SIGCHLD), so a killed postmaster does not
# linger as a zombie that still "exists" for kill -0. Its argv carries
# "rustpg-lab-reaper ARGS..." so that the lab recognises it.
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

# private_mounts DIR HOSTNAME: inside the fresh namespaces (already PID 1),
# as root.
private_mounts() {
    local n=$1 pair
    export PATH=$NODE_PATH
    hostname "$2"
    # Drop our copies of the host's netns handles: otherwise a crashed
    # node's network namespace would stay alive (with its addresses) after
    # its `ip netns del`, held by the other nodes' mount namespaces.
    umount -l /run/netns 2>/dev/null || true
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
    for pair in "${NODE_MOUNTS[@]}"; do
        mount --bind "$n/${pair%%:*}" "${pair#*:}"
    done
}

# become_reaper DIR ARGS...: the node's /run directories, DIR/ready, then
# PID 1 becomes the reaper, named by ARGS.
become_reaper() {
    local n=$1
    shift
    install -d -o hacluster -g haclient -m 0750 /run/crm
    install -d -o postgres -g postgres -m 2775 /run/postgresql
    touch "$n/ready"
    exec python3 -c "$REAPER" rustpg-lab-reaper "$@"
}

# reaper_pid DIR ARGS...: the holder's host pid from DIR/holder.pid, if it
# is alive and really the reaper named ARGS (pids get reused).
reaper_pid() {
    local n=$1 pid i
    shift
    pid=$(cat "$n/holder.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    local -a argv expected=(rustpg-lab-reaper "$@")
    mapfile -d '' -t argv 2>/dev/null <"/proc/$pid/cmdline" || return 1
    ((${#argv[@]} == 3 + ${#expected[@]})) || return 1
    for i in "${!expected[@]}"; do
        [[ ${argv[3 + i]} == "${expected[i]}" ]] || return 1
    done
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    echo "$pid"
}

# start_holder NETNS DIR INIT_ARGS...: the holder of the node whose state
# dir is DIR, in network namespace NETNS, running `$SELF _node-init
# INIT_ARGS...` (which ends in become_reaper DIR ...); its pid goes to
# DIR/holder.pid.
start_holder() {
    local ns=$1 n=$2
    shift 2
    rm -f "$n/ready"
    # setsid: the holder outlives this script and owns no terminal.
    # --kill-child: if unshare dies, the node dies with it.
    setsid ip netns exec "$ns" \
        unshare --mount --uts --ipc --pid --fork --kill-child --propagation private --mount-proc \
        env -i PATH="$NODE_PATH" LANG=C.UTF-8 "$SELF" _node-init "$@" \
        </dev/null >>"$n/holder.log" 2>&1 &
    local upid=$! t=0 pid=
    echo "$upid" >"$n/unshare.pid"
    until [[ -e $n/ready ]] && pid=$(pgrep -P "$upid") && [[ -n $pid ]]; do
        kill -0 "$upid" 2>/dev/null || die "the node in $n did not start: $(tail -5 "$n/holder.log")"
        ((++t <= 100)) || die "the node in $n did not get ready in 10 s"
        sleep 0.1
    done
    echo "$pid" >"$n/holder.pid"
}

# kill_holder DIR ARGS...: kill the reaper named ARGS (the kernel kills
# every process of its pid namespace at once) and its unshare parent.
kill_holder() {
    local n=$1 pid upid
    shift
    if pid=$(reaper_pid "$n" "$@"); then
        kill -KILL "$pid"
        wait_gone "$pid" 100 || die "holder $pid of $n did not die"
    fi
    # The unshare parent exits with its child; kill it only if it is ours.
    upid=$(cat "$n/unshare.pid" 2>/dev/null) || upid=
    if [[ $upid =~ ^[0-9]+$ ]] && grep -qsF -- "$LAB_ROOT" "/proc/$upid/cmdline"; then
        kill -KILL "$upid" 2>/dev/null || true
        wait_gone "$upid" 50 || true
    fi
}

# in_holder PID CMD...: run CMD inside the node with a clean environment.
in_holder() {
    local pid=$1
    shift
    nsenter -t "$pid" -m -u -i -n -p --wd=/ \
        env -i PATH="$NODE_PATH" LANG=C.UTF-8 HOME=/tmp "$@"
}
