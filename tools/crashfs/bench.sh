#!/usr/bin/env bash
# Throughput of PostgreSQL 15 with its data directory on a plain directory
# and on crashfs (same disk underneath): pgbench with synchronous_commit=on.
# Run as root after `cargo build --release -p crashfs`.
#   tools/crashfs/bench.sh [SECONDS] [CLIENTS]
# CRASHFS=/path/to/crashfs overrides the binary. Only a Unix socket is used.
set -euo pipefail

seconds=${1:-30}
clients=${2:-4}
pgbin=/usr/lib/postgresql/15/bin
crashfs=${CRASHFS:-${CARGO_TARGET_DIR:-$(dirname "$0")/../../target}/release/crashfs}
[[ -x $crashfs ]] || { echo "no crashfs binary at $crashfs" >&2; exit 1; }

work=$(mktemp -d /tmp/crashfs-bench.XXXXXX)
chmod 755 "$work"
mnt=$work/mnt
daemon=
cleanup() {
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$mnt/data" -m immediate stop >/dev/null 2>&1 || true
    if mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt"; fi
    [[ -n $daemon ]] && wait "$daemon" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir "$work/run" "$mnt" "$work/backing"
chown postgres: "$work/run"

# run_one LABEL DATADIR: initdb, pgbench -i, pgbench; prints the tps.
run_one() {
    local label=$1 data=$2
    mkdir "$data"
    chown postgres: "$data"
    chmod 700 "$data"
    runuser -u postgres -- "$pgbin/initdb" -U postgres --auth=trust -D "$data" >/dev/null
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$work/run'
synchronous_commit = on
shared_buffers = 128MB
EOF
    sync "$data/postgresql.conf"
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -l "$work/run/$label.log" -w start >/dev/null
    runuser -u postgres -- "$pgbin/pgbench" -h "$work/run" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
    local tps
    tps=$(runuser -u postgres -- "$pgbin/pgbench" -h "$work/run" -U postgres \
        -c "$clients" -j "$((clients < 2 ? clients : 2))" -T "$seconds" postgres 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
    echo "$label: $tps tps (pgbench TPC-B, scale 10, $clients clients, ${seconds}s, synchronous_commit=on)"
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
}

run_one direct "$work/data"

"$crashfs" "$work/backing" "$mnt" 2>"$work/crashfs-daemon.log" &
daemon=$!
"$crashfs" wait "$mnt"
run_one crashfs "$mnt/data"
"$crashfs" stats "$mnt" | grep -E '^(dirty_bytes|written_back_bytes_total|cap_flushes)='
