#!/usr/bin/env bash
# Restore against the kernel's own copy: `cairn restore` of a tree next to
# `cp -a` of the same tree, `restic restore` and `rustic restore` (if on
# PATH; `cargo install rustic-rs --no-default-features` installs it), in
# one run, interleaved.
#
#     benches/restore-vs-cp.sh [SRC] [RUNS]
#         # defaults: ~/.rustup/toolchains/stable-x86_64-unknown-linux-gnu 5
#
# 1. Backs SRC up once with cairn (--no-cache) into a fresh repository.
# 2. RUNS rounds; each round runs every tool once into a fresh target,
#    rotating the order, and records wall, user and system seconds and
#    peak RSS (/usr/bin/time). With STRACE=1, one more untimed restore per
#    tool runs under `strace -c -f` and its syscall counts are printed.
# 3. Prints medians per tool.
#
# The targets are removed between rounds, and the round then waits GRACE
# seconds (default 90): ext4 without a journal (this project's VM) skips
# inodes freed in the last minute when it allocates new ones, scanning
# past each of them, so creating 50k files right after deleting 50k costs
# several times the system time it costs otherwise (`perf` shows
# __ext4_new_inode -> find_inode_bit -> recently_deleted). Every tool gets
# the same wait. Even so, the first tool of a round was seen paying up to
# twice the system time of the others (the freed inodes are not all out
# of the window yet): with the order rotating, RUNS at least the number
# of tools (the default, 5) gives every tool every place once.
#
# Environment: TOOLS (default: all of cairn cp restic [cairn-base] [rustic]),
# CAIRN (default: builds target/release/cairn), CAIRN_BASE
# (optional second cairn binary, e.g. an older build, timed as
# "cairn-base"), RESTIC, RUSTIC (default: from PATH), WORK (default: a
# new temp directory), KEEP=1 keeps WORK.
set -euo pipefail
src=${1:-$HOME/.rustup/toolchains/stable-x86_64-unknown-linux-gnu}
runs=${2:-5}
size_mb=0
. "$(dirname "$0")/lib.sh"
grace=${GRACE:-90}
rustic=${RUSTIC:-$(command -v rustic || true)}
[ -d "$src" ] || { echo "no tree at $src" >&2; exit 1; }
echo secret >"$work/password"
repo=$work/repo

tools="cairn cp restic"
[ -n "${CAIRN_BASE:-}" ] && tools="$tools cairn-base"
if [ -x "$rustic" ]; then
    tools="$tools rustic"
else
    echo "rustic not found: skipped (cargo install rustic-rs --no-default-features)" >&2
fi
# TOOLS limits the tools, e.g. TOOLS="cairn cp" for the comparison alone.
tools=${TOOLS:-$tools}

echo "== backing up $src with cairn" >&2
"$CAIRN" -r "$repo" --password-file "$work/password" init -q >/dev/null
"$CAIRN" -r "$repo" --password-file "$work/password" backup --no-cache -q "$src" >/dev/null

# command TOOL TARGET: the restore (or copy) command of TOOL.
command_of() {
    local pw=$work/password
    case $1 in
    cairn) echo "$CAIRN" -r "$repo" --password-file "$pw" --no-cache -q restore latest --target "$2" ;;
    cairn-base) echo "$CAIRN_BASE" -r "$repo" --password-file "$pw" --no-cache -q restore latest --target "$2" ;;
    restic) echo "$restic" -r "$repo" --password-file "$pw" --no-cache -q restore latest --target "$2" ;;
    rustic) echo "$rustic" -r "$repo" --password-file "$pw" --no-cache --no-progress restore latest "$2" ;;
    cp) echo cp -a "$src" "$2" ;;
    esac
}

# run TOOL TARGET: one timed run; appends "wall user sys rss" to TOOL.times.
run() {
    local out=$work/$1.time.txt
    sync
    # shellcheck disable=SC2046 # the command is split on purpose (no spaces in paths)
    /usr/bin/time -f '%e %U %S %M' -o "$out" $(command_of "$1" "$2") >"$work/$1.log" 2>&1 ||
        { echo "$1 failed:" >&2; tail "$work/$1.log" >&2; exit 1; }
    tail -1 "$out" >>"$work/$1.times"
    awk -v t="$1" '{ printf "   %-11s %6.2f s wall %6.2f user %6.2f sys %7.1f MiB\n", t, $1, $2, $3, $4 / 1024 }' \
        <(tail -1 "$out") >&2
}

set -- $tools
n=$#
for round in $(seq 1 "$runs"); do
    echo "== round $round (waiting ${grace}s after removing the last targets)" >&2
    rm -rf "$work"/t-*
    sync
    sleep "$grace"
    # Rotate the order each round.
    for k in $(seq 0 $((n - 1))); do
        i=$(((k + round - 1) % n + 1))
        tool=${!i}
        run "$tool" "$work/t-$tool-$round"
    done
done

if [ "${STRACE:-0}" = 1 ]; then
    # Counts only: the untimed runs need no wait.
    for tool in $tools; do
        rm -rf "$work"/t-*
        sync
        # shellcheck disable=SC2046
        strace -c -f -o "$work/$tool.strace" $(command_of "$tool" "$work/t-$tool-strace") >/dev/null 2>&1
        echo "== syscalls of $tool (strace -c -f; top 12 by count, then the total)"
        sort -k4 -n -r <(grep -E '^ *[0-9]' "$work/$tool.strace" | grep -v total) | head -12 |
            awk '{ printf "   %-16s %9d\n", $NF, $4 }'
        grep total "$work/$tool.strace" | awk '{ printf "   %-16s %9d\n", "total", $4 }'
    done
fi

echo
echo "restore of $src ($(find "$src" -type f | wc -l) files, $(du -sm "$src" | cut -f1) MiB), median of $runs rounds"
printf '%-11s %9s %9s %9s %10s\n' tool "wall s" "user s" "sys s" "peak MiB"
for tool in $tools; do
    printf '%-11s %9.2f %9.2f %9.2f %10.1f\n' "$tool" "$(median 1 "$work/$tool.times")" \
        "$(median 2 "$work/$tool.times")" "$(median 3 "$work/$tool.times")" \
        "$(median 4 "$work/$tool.times" | awk '{ print $1 / 1024 }')"
done
echo "load while measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
