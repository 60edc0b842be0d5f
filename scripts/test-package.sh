#!/usr/bin/env bash
# The Debian package on this machine: build it (or take the one given),
# install it, check that crmsh and pcs describe the agent and that every
# file it ships is there, remove it, and check that nothing it installed is
# left. Run as root; not while lab tests run (they install their own copy
# of the agent: scripts/test.sh runs this after them).
#   scripts/test-package.sh [DEB]
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "test-package: $*" >&2; exit 1; }
if (($# == 0)); then
    scripts/build-deb.sh >/dev/null
    deb=$(ls target/debian/rustpg_*.deb)
else
    deb=$1
fi
# From a clean state: no package, and no agent that scripts/install.sh put
# there (dpkg would take its place silently).
if dpkg -s rustpg >/dev/null 2>&1; then dpkg --purge rustpg >/dev/null; fi
rm -f /usr/lib/ocf/resource.d/rustpg/pgsql
rmdir /usr/lib/ocf/resource.d/rustpg 2>/dev/null || true
mapfile -t files < <(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {sub(/^\./, "", $6); print $6}')
((${#files[@]} > 10)) || fail "the package lists only ${#files[@]} files"
dpkg -i "$deb" >/dev/null
for f in "${files[@]}"; do
    [[ -e $f ]] || fail "$f is in the package but not installed"
done
# Each command's whole output is read before grep looks at it: `cmd | grep -q`
# under pipefail fails when grep exits at the first match while cmd still
# writes (crm writes its page in several writes; it happened once in CI).
output_of() { "$@" 2>&1 || true; }
grep -q "Manages a PostgreSQL instance" <<<"$(output_of crm ra info ocf:rustpg:pgsql)" \
    || fail "crm ra info ocf:rustpg:pgsql does not describe the agent"
grep -q "rep_mode" <<<"$(output_of pcs resource describe ocf:rustpg:pgsql)" \
    || fail "pcs resource describe ocf:rustpg:pgsql does not list its parameters"
grep -q "explain" <<<"$(output_of rustpgctl --help)" || fail "rustpgctl --help"
grep -q '^\.TH RUSTPGCTL 8' <<<"$(output_of zcat /usr/share/man/man8/rustpgctl.8.gz)" \
    || fail "no rustpgctl(8)"
grep -q '^\.TH OCF_RUSTPG_PGSQL 7' <<<"$(output_of zcat /usr/share/man/man7/ocf_rustpg_pgsql.7.gz)" \
    || fail "no ocf_rustpg_pgsql(7)"
[[ -e /lib/systemd/system/rustpg-serve.service ]] || fail "no rustpg-serve.service"
[[ ! -e /etc/systemd/system/multi-user.target.wants/rustpg-serve.service ]] \
    || fail "rustpg-serve.service is enabled on install (it must stay off)"
grep -q '^RUSTPG_SERVE_LISTEN=$' /etc/default/rustpg-serve || fail "/etc/default/rustpg-serve"
dpkg --purge rustpg >/dev/null
for f in "${files[@]}"; do
    [[ ! -e $f ]] || fail "$f is left after dpkg --purge"
done
for d in /usr/lib/ocf/resource.d/rustpg /usr/share/rustpg /usr/share/doc/rustpg; do
    [[ ! -e $d ]] || fail "$d is left after dpkg --purge"
done
echo "test-package: ${#files[@]} files installed, described by crm and pcs, removed without a trace"
