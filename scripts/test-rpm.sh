#!/usr/bin/env bash
# The RPM (scripts/build-rpm.sh, or the one given): every file it should
# ship is listed (rpm -qlp), rpmlint finds no error, and it installs into a
# scratch root (rpm --root, without its dependencies, which a Debian
# machine's RPM database does not have), where every file it lists is.
# Nothing on this machine is touched. Run as root.
#   scripts/test-rpm.sh [RPM]
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "test-rpm: $*" >&2; exit 1; }
if (($# == 0)); then
    rpm=$(scripts/build-rpm.sh | tail -1)
else
    rpm=$1
fi
listed=$(rpm -qlp "$rpm" 2>/dev/null)
for f in /usr/lib/ocf/resource.d/rustpg/pgsql /usr/sbin/rustpgctl \
    /usr/lib/systemd/system/rustpg-serve.service /etc/sysconfig/rustpg-serve \
    /usr/share/rustpg/ocf-metadata/pgsql.xml /usr/share/licenses/rustpg/copyright; do
    grep -qx "$f" <<<"$listed" || fail "$f is not in $rpm"
done
for page in rustpgctl rustpgctl-status rustpgctl-explain rustpgctl-history rustpgctl-metrics rustpgctl-serve rustpgctl-switchover; do
    grep -q "^/usr/share/man/man8/$page\.8" <<<"$listed" || fail "no $page(8) in $rpm"
done
grep -q "^/usr/share/man/man7/ocf_rustpg_pgsql\.7" <<<"$listed" || fail "no ocf_rustpg_pgsql(7) in $rpm"
flags=$(rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null \
    | awk '$2 == "/etc/sysconfig/rustpg-serve" {print $1}')
[[ $flags == *c* && $flags == *n* ]] \
    || fail "/etc/sysconfig/rustpg-serve is not %config(noreplace)"
# rpmlint: errors fail, warnings are printed. Its configuration drops one
# error: the package is not signed (the administrator who distributes it
# signs it with the site's key).
lint=$(rpmlint -c packaging/rpmlint.toml "$rpm" 2>&1 || true)
if grep -q ' E: ' <<<"$lint"; then
    echo "$lint" >&2
    fail "rpmlint reports errors"
fi
grep ' W: ' <<<"$lint" || true
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
rpm --root "$root" --initdb
rpm --root "$root" --nodeps --noscripts -i "$rpm" || fail "rpm -i into a scratch root failed"
while IFS= read -r f; do
    [[ -e $root$f ]] || fail "$f is listed but not installed in the scratch root"
done <<<"$listed"
"$root/usr/sbin/rustpgctl" --help >/dev/null || fail "the installed rustpgctl does not run"
echo "test-rpm: $(wc -l <<<"$listed") files listed, rpmlint without errors, installed into a scratch root"
