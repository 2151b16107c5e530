#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for N seconds (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if [ "$secs" = 0 ]; then echo "fuzz: skipped (0 seconds)"; exit 0; fi
if [ ! -d fuzz/fuzz_targets ]; then echo "fuzz: no targets" >&2; exit 1; fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
# cargo-fuzz needs nightly compiler flags: use a nightly toolchain when the
# machine has one, else let the stable compiler accept them.
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
fi
for t in fuzz_targets/*.rs; do
    name=$(basename "$t" .rs)
    echo "== fuzz $name (${secs}s)"
    cargo "${toolchain[@]}" fuzz run "$name" -- -max_total_time="$secs" -rss_limit_mb=2048
done
