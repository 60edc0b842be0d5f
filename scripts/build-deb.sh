#!/usr/bin/env bash
# Build the Debian package from this checkout with its debian/ (the steps
# of `dpkg-buildpackage -b`, minus the .changes and .buildinfo, which it
# would write outside the checkout) and leave it in target/debian/ (in
# $CARGO_TARGET_DIR/debian/ when that is set). Run as root on Debian 12
# with cargo on PATH; `dpkg -i target/debian/rustpg_*.deb` installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in debhelper dpkg-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
((${#need[@]} == 0)) || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
dpkg-checkbuilddeps
out=${CARGO_TARGET_DIR:-target}/debian
mkdir -p "$out"
rm -f "$out"/rustpg_*.deb
log=$out/build.log
{ debian/rules clean && debian/rules build && debian/rules binary && debian/rules clean; } >"$log" 2>&1 \
    || { tail -20 "$log" >&2; exit 1; }
ls "$out"/rustpg_*.deb
