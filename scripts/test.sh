#!/usr/bin/env bash
# Runs every check and test: installs the dependencies, then formatting,
# lints, docs, the whole test suite (unit, property and interop tests
# against the real restic), the README's demo (scripts/demo.sh, end to end
# with the release build), and a short run of every fuzz target.
#
# FUZZ_SECONDS (default 30) sets how long each fuzz target runs; 0 skips.
# 30 s keeps the whole run inside the 90-minute CI budget on 2 cores now
# that the suite drives real S3, SFTP, NFS and rclone servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# A test run builds everything once: incremental caches would only take disk
# (gigabytes for this workspace) without ever being reused.
export CARGO_INCREMENTAL=0
# The rustic interop tests must run, not skip (install-deps.sh installs it).
export CAIRN_REQUIRE_RUSTIC="${CAIRN_REQUIRE_RUSTIC:-1}"
# The metrics tests must run too (promtool, prometheus-pushgateway).
export CAIRN_REQUIRE_PROMETHEUS="${CAIRN_REQUIRE_PROMETHEUS:-1}"
# The mount tests (crates/cairn-cli/tests/mount.rs) use real FUSE: where
# the machine has /dev/fuse they must run (fail, not skip, if fusermount3
# is missing); only a machine without /dev/fuse skips them.
if [ -e /dev/fuse ]; then
    export CAIRN_REQUIRE_FUSE="${CAIRN_REQUIRE_FUSE:-1}"
fi

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo clippy, each backend feature alone"
# An embedder may build the library with only the stores it needs: with
# none (local folders only) and with each one alone, it must build clean.
cargo clippy -p cairn --no-default-features -- -D warnings
cargo test -p cairn-backend --no-default-features --lib --quiet
for feature in "" rest s3 cloud sftp rclone nfs; do
    cargo clippy -p cairn-backend --no-default-features --features "$feature" -- -D warnings
done
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== library examples (crates/cairn/examples)"
for example in crates/cairn/examples/*.rs; do
    name=$(basename "$example" .rs)
    echo "-- $name"
    cargo run --quiet -p cairn --example "$name"
done
echo "== demo (scripts/demo.sh, the README's first command)"
bash scripts/demo.sh
echo "== fuzz"
bash scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-30}"
