#!/usr/bin/env bash
# Build the RPM (packaging/rustpg.spec) from this checkout and leave it in
# target/rpm/ ($CARGO_TARGET_DIR/rpm/ when that is set). The programs are
# built here with cargo, so they link against this machine's C library:
# build on the distribution you install on (a RHEL 9 machine or container
# for RHEL 9 and its rebuilds), with the Rust toolchain and rpm-build.
# On Debian, `apt-get install rpm` gives rpmbuild. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v rpmbuild >/dev/null || { echo "build-rpm: rpmbuild is missing (rpm-build; Debian: rpm)" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-target}
out=$target/rpm
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cargo build --release --locked --bins --quiet
staged=$(mktemp -d)
top=$(mktemp -d)
trap 'rm -rf "$staged" "$top"' EXIT
install -D -m 0755 "$target/release/pgsql" "$staged/usr/lib/ocf/resource.d/rustpg/pgsql"
install -D -m 0755 "$target/release/rustpgctl" "$staged/usr/sbin/rustpgctl"
install -d "$staged/usr/share/man/man8"
install -m 0644 doc/rustpgctl*.8 "$staged/usr/share/man/man8/"
gzip -9n "$staged"/usr/share/man/man8/*.8
install -D -m 0644 doc/ocf_rustpg_pgsql.7 "$staged/usr/share/man/man7/ocf_rustpg_pgsql.7"
gzip -9n "$staged/usr/share/man/man7/ocf_rustpg_pgsql.7"
install -D -m 0644 ocf-metadata/pgsql.xml "$staged/usr/share/rustpg/ocf-metadata/pgsql.xml"
install -D -m 0644 packaging/rustpg-serve.service "$staged/usr/lib/systemd/system/rustpg-serve.service"
install -D -m 0644 packaging/rustpg-serve.default "$staged/etc/sysconfig/rustpg-serve"
doc=$staged/usr/share/doc/rustpg
install -d "$doc/examples" "$doc/docs"
install -m 0644 README.md ARCHITECTURE.md BENCHMARKS.md "$doc/"
install -m 0644 docs/*.md "$doc/docs/"
install -m 0644 crm-examples/*.crm crm-examples/*.ini "$doc/examples/"
install -m 0755 crm-examples/*.sh "$doc/examples/"
install -D -m 0644 debian/copyright "$staged/usr/share/licenses/rustpg/copyright"
mkdir -p "$out"
rm -f "$out"/rustpg-*.rpm
rpmbuild -bb packaging/rustpg.spec \
    --define "_topdir $top" \
    --define "staged $staged" \
    --define "version $version" \
    --define "_unitdir /usr/lib/systemd/system" \
    --define "_build_id_links none" \
    >"$out/build.log" 2>&1 || { tail -20 "$out/build.log" >&2; exit 1; }
find "$top/RPMS" -name 'rustpg-*.rpm' -exec mv {} "$out/" \;
ls "$out"/rustpg-*.rpm
