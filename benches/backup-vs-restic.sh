#!/usr/bin/env bash
# Backup speed and memory: `cairn backup` against Debian's restic on the
# same data, in one run.
#
#     benches/backup-vs-restic.sh [SIZE_MB] [RUNS]     # defaults: 1024 3
#
# For each run and each tool, in a fresh repository of its own:
#   fresh       the first backup of tree A;
#   unchanged   a second backup of the same tree (parent detection);
#   overlapping a backup of tree B, which shares about half of A's files
#               (deduplication against what is stored).
# Then both tools' repositories pass `restic check --read-data`. Prints the
# medians of wall time and peak RSS and the ratios cairn/restic.
#
# Environment: RESTIC, CAIRN, WORK, KEEP=1 as in restore-vs-restic.sh;
# WARM=1 starts each run with the tree read into the page cache instead
# of evicted from it (see set_cache_state in lib.sh).
set -euo pipefail
size_mb=${1:-1024}
runs=${2:-3}
. "$(dirname "$0")/lib.sh"

echo "== building two overlapping ${size_mb} MiB trees in $work" >&2
build_tree "$size_mb" "$work/a" y
build_tree "$((size_mb / 2))" "$work/b" y   # the first half of A's selection
build_tree "$((size_mb / 2))" "$work/b" n   # plus other files
echo "   A: $(du -sm "$work/a" | cut -f1) MiB, B: $(du -sm "$work/b" | cut -f1) MiB" >&2
echo "bench" >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password

for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="restic cairn"; else order="cairn restic"; fi
    for tool in $order; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        repo=$work/repo-$tool
        rm -rf "$repo"
        "$bin" -r "$repo" init >/dev/null 2>&1
        echo "== $tool, run $i" >&2
        set_cache_state "$work/a"
        timed "$tool-fresh" "$bin" -r "$repo" --no-cache -q backup --host bench "$work/a"
        set_cache_state "$work/a"
        timed "$tool-unchanged" "$bin" -r "$repo" --no-cache -q backup --host bench "$work/a"
        set_cache_state "$work/b"
        timed "$tool-overlapping" "$bin" -r "$repo" --no-cache -q backup --host bench "$work/b"
    done
done

echo "== restic check --read-data on both repositories" >&2
checks=ok
for tool in restic cairn; do
    "$restic" -r "$work/repo-$tool" --no-cache check --read-data >"$work/check-$tool.log" 2>&1 || {
        checks=FAILED
        tail -5 "$work/check-$tool.log" >&2
    }
done

echo
echo "backup, median of $runs runs; tree A $(du -sm "$work/a" | cut -f1) MiB," \
    "$(find "$work/a" -type f | wc -l) files; tree B overlaps half of A"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version | head -1)"
report_header
for phase in fresh unchanged overlapping; do report_row "$phase"; done
echo "repository sizes: restic $(du -sm "$work/repo-restic" | cut -f1) MiB, cairn $(du -sm "$work/repo-cairn" | cut -f1) MiB"
echo "restic check --read-data on both repositories: $checks"
echo "note: $(cache_state_note)"
[ "$checks" = ok ]
