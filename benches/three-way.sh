#!/usr/bin/env bash
# restic, rustic and Cairn on the same data in one run, step by step.
#
#     benches/three-way.sh [SIZE_MB] [RUNS]     # defaults: 1024 2
#
# Corpus: tree A and an overlapping tree B. By default A is the stable
# Rust toolchain and B the nightly one (about 1.4 GB and 52,000 files
# each, sharing most files), when rustup has both; CORPUS_A and CORPUS_B
# name other directories. Without them, two trees of about SIZE_MB MiB
# are built from /usr as in backup-vs-restic.sh (B shares half of A).
#
# Each round gives every tool a fresh repository (copies of one that
# restic initialised, so that all use the same key file) and runs, step by step,
# each step with every tool before the next step (the tools' order rotates
# each round, so none always runs first on a warmer cache):
#   open         --no-lock cat config: process start and key derivation,
#                the fixed cost every other step includes (rustic takes
#                no locks; restic and Cairn wait 200 ms after taking one)
#   fresh        first backup of A
#   unchanged    second backup of A (parent snapshot found by each tool)
#   overlapping  backup of B (deduplication against what A stored)
#   check        check --read-data
#   forget       forget --keep-last 1 --group-by host --prune: forgets A's
#                snapshot and prunes what only A used (rustic with
#                --instant-delete, so that it deletes as the others do)
# Wall time and peak RSS come from /usr/bin/time -v; the repository size
# is taken after `overlapping`. Every repository then passes restic's
# `check --read-data`. Prints medians per tool and the ratios
# cairn/restic and cairn/rustic.
#
# rustic is used when on PATH (or RUSTIC names it); install it with
#     cargo install rustic-rs --version 0.11.4 --no-default-features --locked
# (about 10-13 minutes on 2 cores). Without it, its columns say "-".
# Environment: RESTIC, CAIRN, WORK, KEEP=1, WARM=1 as in the other scripts
# (see lib.sh); RUSTIC.
set -euo pipefail
size_mb=${1:-1024}
runs=${2:-2}
. "$(dirname "$0")/lib.sh"
find_tools

toolchains=$HOME/.rustup/toolchains
if [ -n "${CORPUS_A:-}" ]; then
    a=$CORPUS_A b=${CORPUS_B:?CORPUS_B must be set with CORPUS_A}
elif [ -d "$toolchains/stable-x86_64-unknown-linux-gnu" ] && [ -d "$toolchains/nightly-x86_64-unknown-linux-gnu" ]; then
    a=$toolchains/stable-x86_64-unknown-linux-gnu b=$toolchains/nightly-x86_64-unknown-linux-gnu
else
    echo "== building two overlapping ${size_mb} MiB trees in $work" >&2
    build_tree "$size_mb" "$work/a" y
    build_tree "$((size_mb / 2))" "$work/b" y
    build_tree "$((size_mb / 2))" "$work/b" n
    a=$work/a b=$work/b
fi
echo "   A: $a ($(du -sm "$a" | cut -f1) MiB, $(find "$a" -type f | wc -l) files)" >&2
echo "   B: $b ($(du -sm "$b" | cut -f1) MiB, $(find "$b" -type f | wc -l) files)" >&2
echo "bench" >"$work/password"

# step TOOL NAME ARGS...: one timed step.
step() {
    local tool=$1 name=$2
    shift 2
    set_cmd "$tool"
    timed "$tool-$name" "${CMD[@]}" "$@"
}

steps="open fresh unchanged overlapping check forget"
for i in $(seq 1 "$runs"); do
    # Rotate the order by one each round.
    order=$(echo $tools | awk -v k="$i" '{ for (j = 0; j < NF; j++) printf "%s ", $(((j + k) % NF) + 1) }')
    echo "== round $i: $order" >&2
    # shellcheck disable=SC2086
    init_repos $order
    for s in $steps; do
        for tool in $order; do
            case $s in
            open)
                case $tool in
                rustic) step "$tool" "$s" cat config ;; # rustic takes no locks
                *) step "$tool" "$s" --no-lock cat config ;;
                esac
                ;;
            fresh | unchanged) set_cache_state "$a"; step "$tool" "$s" backup --host bench "$a" ;;
            overlapping)
                set_cache_state "$b"
                step "$tool" "$s" backup --host bench "$b"
                du -sm "$work/repo-$tool" | cut -f1 >>"$work/$tool-size.mib"
                ;;
            check) step "$tool" "$s" check --read-data ;;
            forget)
                # A and B have different paths: grouped by host only, A's
                # snapshot is forgotten and what only A used is pruned.
                case $tool in
                rustic) step "$tool" "$s" forget --keep-last 1 --group-by host --prune --instant-delete ;;
                *) step "$tool" "$s" forget --keep-last 1 --group-by host --prune ;;
                esac
                ;;
            esac
        done
    done
done

echo "== restic check --read-data on every repository" >&2
checks=ok
for tool in $tools; do
    "$restic" -r "$work/repo-$tool" --password-file "$work/password" --no-cache check --read-data \
        >"$work/final-check-$tool.log" 2>&1 || {
        checks=FAILED
        echo "$tool's repository:" >&2
        tail -5 "$work/final-check-$tool.log" >&2
    }
done

# cell TOOL STEP COLUMN: a median, or "-" for a tool that did not run.
cell() { if [ -f "$work/$1-$2.times" ]; then median "$3" "$work/$1-$2.times"; else echo -; fi; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "-" || y == "-" || y == 0) print "-"; else printf "%.2f", x / y }'; }

echo
echo "median of $runs rounds; A: $(du -sm "$a" | cut -f1) MiB, B: $(du -sm "$b" | cut -f1) MiB; $(cache_state_note)"
echo "restic: $("$restic" version | cut -d' ' -f1-2); rustic: $([ -n "$rustic" ] && "$rustic" --version || echo -);" \
    "cairn: $("$CAIRN" version | head -1)"
echo
echo "| step | restic | rustic | cairn | cairn/restic | cairn/rustic | restic MiB | rustic MiB | cairn MiB | mem cairn/min(peers) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for s in $steps; do
    rt=$(cell restic "$s" 1) ut=$(cell rustic "$s" 1) ct=$(cell cairn "$s" 1)
    rm_=$(cell restic "$s" 2) um=$(cell rustic "$s" 2) cm=$(cell cairn "$s" 2)
    low=$(awk -v r="$rm_" -v u="$um" 'BEGIN { print (u == "-" || r + 0 < u + 0) ? r : u }')
    mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.0f", k / 1024 }'; }
    echo "| $s | $rt s | $ut s | $ct s | $(ratio "$ct" "$rt") | $(ratio "$ct" "$ut") |" \
        "$(mib "$rm_") | $(mib "$um") | $(mib "$cm") | $(ratio "$cm" "$low") |"
done
size() { if [ -f "$work/$1-size.mib" ]; then median 1 "$work/$1-size.mib"; else echo -; fi; }
echo "| repository size after B | $(size restic) MiB | $(size rustic) MiB | $(size cairn) MiB |" \
    "$(ratio "$(size cairn)" "$(size restic)") | $(ratio "$(size cairn)" "$(size rustic)") | | | | |"
echo
echo "restic check --read-data on every repository: $checks"
[ "$checks" = ok ]
