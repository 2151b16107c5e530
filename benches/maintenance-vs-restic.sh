#!/usr/bin/env bash
# Maintenance speed and memory: `forget --prune`, `check --read-data` and
# `copy`, Cairn against Debian's restic on the same data, in one run.
#
#     benches/maintenance-vs-restic.sh [SIZE_MB]     # default: 1024
#
# 1. Builds a tree of about SIZE_MB MiB of real files (see lib.sh) and
#    backs it up 10 times with each tool into a repository of its own,
#    changing the tree between backups: each round adds a new selection of
#    about SIZE_MB/10 MiB, drops the one added three rounds before and
#    appends to a few files (so every snapshot differs and pruning frees
#    whole and partial packs). The backups are not timed.
# 2. Times, per tool, on its own repository:
#      forget   `forget --keep-last 3 --prune`
#      check    `check --read-data`
#      copy     `copy --from-repo ... --from-password-file ...` of the
#               pruned repository into a fresh one (skipped, with a note,
#               when the cairn binary has no `copy` command)
# 3. Checks the result with restic: both pruned repositories and both copy
#    targets pass `restic check --read-data`, and each copy target has the
#    3 snapshots left.
# 4. Prints wall time and peak RSS per step and the ratios cairn/restic.
#
# Each step changes the repository, so every step runs once per tool
# (no medians). Environment: RESTIC, CAIRN, WORK, KEEP=1 as in
# restore-vs-restic.sh.
set -euo pipefail
size_mb=${1:-1024}
runs=1
. "$(dirname "$0")/lib.sh"

src=$work/src
echo "bench" >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password
if "$CAIRN" copy --help >/dev/null 2>&1; then have_copy=yes; else have_copy=no; fi

# change_tree ROUND: the tree of backup number ROUND (1..10).
change_tree() {
    local round=$1
    rm -rf "$src/extra-$((round - 3))" "$src/extra-$((round - 3)).files"
    build_tree "$((size_mb / 10))" "$src/extra-$round" "round-$round"
    # Append to every 97th file of the base selection (a different set each
    # round); files are copies, so the originals stay untouched.
    find "$src/base" -type f | sort | awk -v r="$round" 'NR % 97 == r' |
        while IFS= read -r f; do echo "round $round" >>"$f"; done
}

echo "== building a ${size_mb} MiB tree in $src" >&2
build_tree "$((size_mb * 7 / 10))" "$src/base" base
for tool in restic cairn; do
    case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
    "$bin" -r "$work/repo-$tool" init >/dev/null 2>&1
done
echo "== 10 backups with each tool" >&2
for round in $(seq 1 10); do
    change_tree "$round"
    for tool in restic cairn; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        "$bin" -r "$work/repo-$tool" --no-cache -q backup --host bench "$src" >"$work/backup-$tool.log" 2>&1 || {
            echo "$tool backup $round failed:" >&2
            tail -5 "$work/backup-$tool.log" >&2
            exit 1
        }
    done
done
echo "   tree now $(du -sm "$src" | cut -f1) MiB; repositories: restic $(du -sm "$work/repo-restic" | cut -f1) MiB," \
    "cairn $(du -sm "$work/repo-cairn" | cut -f1) MiB" >&2

steps="forget check"
[ "$have_copy" = yes ] && steps="$steps copy"
for step in $steps; do
    # Alternate which tool goes first so neither always gets the warmer
    # page cache.
    case $step in check) order="cairn restic" ;; *) order="restic cairn" ;; esac
    for tool in $order; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        repo=$work/repo-$tool
        case $step in
        forget) timed "$tool-forget" "$bin" -r "$repo" --no-cache forget --keep-last 3 --prune ;;
        check) timed "$tool-check" "$bin" -r "$repo" --no-cache check --read-data ;;
        copy)
            "$bin" -r "$work/copy-$tool" init >/dev/null 2>&1
            timed "$tool-copy" "$bin" -r "$work/copy-$tool" --no-cache copy \
                --from-repo "$repo" --from-password-file "$work/password"
            ;;
        esac
    done
done

echo "== restic check --read-data on every repository" >&2
checks=ok
for repo in repo-restic repo-cairn $([ "$have_copy" = yes ] && echo copy-restic copy-cairn); do
    if ! "$restic" -r "$work/$repo" --no-cache check --read-data >"$work/check-$repo.log" 2>&1; then
        checks=FAILED
        echo "$repo:" >&2
        tail -5 "$work/check-$repo.log" >&2
    fi
    left=$("$restic" -r "$work/$repo" --no-cache snapshots --json | grep -o '"id"' | wc -l)
    if [ "$left" != 3 ]; then
        checks=FAILED
        echo "$repo has $left snapshots, expected 3" >&2
    fi
done

echo
echo "maintenance after 10 backups of a changing tree of about ${size_mb} MiB" \
    "($(find "$src" -type f | wc -l) files now); one run per step"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version | head -1)"
report_header
for step in $steps; do report_row "$step"; done
[ "$have_copy" = yes ] || echo "copy: skipped, $CAIRN has no 'copy' command"
echo "repository sizes after prune: restic $(du -sm "$work/repo-restic" | cut -f1) MiB," \
    "cairn $(du -sm "$work/repo-cairn" | cut -f1) MiB"
echo "restic check --read-data and 3 snapshots left in every repository: $checks"
echo "note: page caches could not be dropped, so repositories were warm in memory."
[ "$checks" = ok ]
