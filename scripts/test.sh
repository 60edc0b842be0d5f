#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests on
# real PostgreSQL 15 and 18 and real Pacemaker tools. Run as root after
# scripts/install-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
# The reviewed snapshots (the decision table, the man pages) are checked,
# never rewritten, by the suite: with UPDATE_SNAPSHOTS set they would be
# rewritten and then pass against themselves.
if [[ -n ${UPDATE_SNAPSHOTS+set} ]]; then
    echo "scripts/test.sh: unset UPDATE_SNAPSHOTS (it rewrites the reviewed snapshots); run UPDATE_SNAPSHOTS=1 cargo test --lib by hand and review the diff" >&2
    exit 1
fi
# And nothing the suite runs may change a tracked file.
tree_state() {
    git rev-parse --is-inside-work-tree >/dev/null 2>&1 || return 0
    git status --porcelain --untracked-files=no
    git diff | sha256sum
}
before=$(tree_state)
# Where the time goes, in the log: seconds since the suite began.
SECONDS=0
stage() { echo "scripts/test.sh: ${SECONDS}s: $*" >&2; }
cargo fmt --all --check
# Fixed seeds keep the property tests (fuzz_*) and the randomized fault
# schedules' short form (nemesis: seed 1019 in sync mode, 1020 in quorum
# mode; docs/faults.md) the same on every CI run; plain `cargo test` and
# scripts/nemesis-long.sh explore new ones.
export PROPTEST_RNG_SEED=${PROPTEST_RNG_SEED:-20261127} NEMESIS_SEED=${NEMESIS_SEED:-1019}
# The lab tests run one after another in a process of their own
# (tests/integration/labs.list), every other test beside them.
mapfile -t labs < <(grep -v '^#' tests/integration/labs.list | grep .)
skip=()
for t in "${labs[@]}"; do skip+=(--skip "$t"); done
# What the lab tests run first (the integration tests and the agent), with
# the lab's disks that forget unsynced writes at a crash (tools/crashfs)
# and its reading of crm_mon (tools/labview): the labs are the longest
# part, so they start as soon as they can. Everything else is built
# beside them.
cargo test --locked --no-run --quiet --test integration
cargo build --locked --quiet -p crashfs -p labview
stage "lab tests built"
lablog=$(mktemp /tmp/rustpg-labs.XXXXXX)
trap 'rm -f "$lablog"' EXIT
# Each line of the lab tests' output with the seconds since they began.
(
    set -o pipefail
    SECONDS=0
    cargo test --locked --test integration -- --exact --test-threads=1 "${labs[@]}" 2>&1 \
        | while IFS= read -r line; do printf '%5ss %s\n' "$SECONDS" "$line"; done
) >"$lablog" &
labs_pid=$!
stage "lab tests started"
others=0
# The Debian package's release build, at low priority (the labs first), in
# a target directory of its own, beside the other tests: they mostly wait
# for PostgreSQL, the build mostly computes.
(CARGO_TARGET_DIR=$PWD/target/package nice -n 19 scripts/build-deb.sh >/dev/null \
    && CARGO_TARGET_DIR=$PWD/target/package nice -n 19 scripts/build-rpm.sh >/dev/null) &
package_pid=$!
# Everything beside the labs at the lowest priority: the labs first.
nice -n 19 cargo test --locked --no-run --quiet
# The lints, then every other test on three threads, at the lowest
# priority (the labs first): the lab mostly waits for Pacemaker's timers
# and leaves most of its core idle, and the other tests (a second of CPU
# for every two of waiting, much of it starting processes) fill both cores
# without taking the lab's share. Three threads beside a lab: 513 s where
# two took 655 s.
nice -n 19 cargo clippy --locked --workspace --all-targets --quiet -- -D warnings || others=$?
stage "lints done"
nice -n 19 cargo test --locked -- --test-threads=3 "${skip[@]}" || others=$?
stage "other tests done"
# The tools' own tests (crashfs: files and PostgreSQL on it; labview: the
# healthy picture), beside the labs too.
nice -n 19 cargo test --locked --quiet -p crashfs -p labview || others=$?
wait "$package_pid" || others=$?
stage "package built"
# The RPM touches nothing on this machine (a scratch root): beside the labs.
rpm=$(ls target/package/rpm/rustpg-*.rpm 2>/dev/null) && scripts/test-rpm.sh "$rpm" || others=$?
lab_rc=0
wait "$labs_pid" || lab_rc=$?
stage "lab tests done"
echo "=== the lab tests (one after another) ==="
cat "$lablog"
# The package: install, describe, remove. After the labs, which install
# their own copy of the agent where the package puts it.
package_rc=0
deb=$(ls target/package/debian/rustpg_*.deb 2>/dev/null) && scripts/test-package.sh "$deb" || package_rc=$?
stage "package tested"
if ((others || lab_rc || package_rc)); then
    echo "scripts/test.sh: failed (other tests: exit $others, lab tests: exit $lab_rc, package: exit $package_rc)" >&2
    exit 1
fi
after=$(tree_state)
if [[ $before != "$after" ]]; then
    echo "scripts/test.sh: the suite changed tracked files:" >&2
    git status --short --untracked-files=no >&2
    exit 1
fi
