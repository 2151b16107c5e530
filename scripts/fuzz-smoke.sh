#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for N seconds (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if [ "$secs" = 0 ]; then echo "fuzz: skipped (0 seconds)"; exit 0; fi
if [ ! -d fuzz/fuzz_targets ]; then echo "fuzz: no targets" >&2; exit 1; fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
for t in fuzz_targets/*.rs; do
    name=$(basename "$t" .rs)
    echo "== fuzz $name (${secs}s)"
    cargo +nightly fuzz run "$name" -- -max_total_time="$secs" -rss_limit_mb=2048
done
