#!/usr/bin/env bash
# Restore speed and memory: `cairn restore` against Debian's restic on the
# same repository, in one run.
#
#     benches/restore-vs-restic.sh [SIZE_MB] [RUNS]     # defaults: 1024 3
#
# 1. Builds a test tree of about SIZE_MB MiB of real files, a deterministic
#    pseudo-random selection of /usr/lib, /usr/share and /usr/bin (no
#    network needed; mixed sizes and types, hard links and symlinks kept).
# 2. Backs it up with restic into a fresh repository in a temp directory.
# 3. Restores the latest snapshot RUNS times with each tool into fresh
#    targets, alternating which one goes first so neither always gets the
#    warmer page cache, measuring wall time and peak RSS with
#    /usr/bin/time -v.
# 4. Checks that the two restored trees are identical: content with
#    `diff -r`, then type, mode, owner, size, mtime, link count and link
#    target of every entry.
# 5. Prints the medians and the ratios cairn/restic.
#
# Environment: RESTIC (default: restic from PATH), CAIRN (default: builds
# target/release/cairn with `cargo build --release -p cairn-cli`), WORK
# (default: a new temp directory), KEEP=1 keeps WORK afterwards.
set -euo pipefail
export LC_ALL=C

size_mb=${1:-1024}
runs=${2:-3}
case "$size_mb$runs" in *[!0-9]*) echo "usage: $0 [SIZE_MB] [RUNS]" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] || { echo "RUNS must be at least 1" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
restic=${RESTIC:-$(command -v restic || true)}
[ -x "$restic" ] || { echo "restic not found (set RESTIC)" >&2; exit 1; }
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time (needed for peak RSS)" >&2
    apt-get install -y time >/dev/null
fi
if [ -z "${CAIRN:-}" ]; then
    echo "building cairn (release)..." >&2
    (cd "$root" && cargo build --release -q -p cairn-cli)
    CAIRN=$root/target/release/cairn
fi
if ! "$CAIRN" restore --help >/dev/null 2>&1; then
    echo "$CAIRN has no working 'restore' command" >&2
    exit 1
fi

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/cairn-restore-bench.XXXXXX")}
mkdir -p "$work"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "kept $work" >&2; fi; }
trap cleanup EXIT

src=$work/src
export RESTIC_REPOSITORY=$work/repo RESTIC_PASSWORD_FILE=$work/password
echo "cairn-restore-bench" >"$RESTIC_PASSWORD_FILE"

# --- 1. test tree -----------------------------------------------------------
echo "== building a ${size_mb} MiB test tree in $src" >&2
mkdir -p "$src"
# `shuf` with a constant random source gives the same selection every time
# on the same machine; sizes are apparent sizes, so sparse files count fully.
find /usr/lib /usr/share /usr/bin -xdev \( -type f -o -type l \) -printf '%s\t%P\t%H\n' 2>/dev/null |
    shuf --random-source=<(yes) |
    awk -F'\t' -v limit=$((size_mb * 1024 * 1024)) '
        # Skip files that would overshoot, so one huge library cannot blow
        # up a small test size. Read to the end (no early exit): shuf would
        # die of SIGPIPE and fail the pipeline.
        sum + $1 <= limit { sum += $1; sub("^/", "", $3); print ($3 == "" ? "" : $3 "/") $2 }' >"$work/files"
tar -C / --no-recursion -cf - -T "$work/files" | tar -C "$src" -xf -
read -r src_bytes src_files < <(find "$src" -type f -printf '%s\n' | awk '{ s += $1; n++ } END { print s + 0, n + 0 }')
src_dirs=$(find "$src" -type d | wc -l)
echo "   $src_files files, $src_dirs directories, $((src_bytes / 1024 / 1024)) MiB" >&2

# --- 2. backup ----------------------------------------------------------------
echo "== backing up with $("$restic" version | cut -d' ' -f1-2)" >&2
"$restic" init -q >/dev/null
backup_start=$(date +%s.%N)
"$restic" backup -q --no-cache --host bench "$src" >/dev/null
backup_secs=$(echo "$(date +%s.%N) $backup_start" | awk '{ printf "%.1f", $1 - $2 }')
repo_mb=$(du -sm "$RESTIC_REPOSITORY" | cut -f1)
echo "   took ${backup_secs}s; repository is ${repo_mb} MiB" >&2

# --- 3. restores -----------------------------------------------------------------
# run_restore TOOL TARGET: one timed restore; appends "secs kib" to
# $work/TOOL.times. Both tools get --no-cache: the repository is local, and
# restic's cache would otherwise be built (and timed) on its first run only.
run_restore() {
    local tool=$1 target=$2 bin out
    case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
    rm -rf "$target"
    sync # flush the previous run's writes so they are not charged to this one
    out=$work/$tool.time.txt
    if ! /usr/bin/time -v -o "$out" "$bin" --no-cache -q restore latest --target "$target" \
        >"$work/$tool.log" 2>&1; then
        echo "$tool restore failed:" >&2
        tail -20 "$work/$tool.log" >&2
        exit 1
    fi
    awk -F': ' '
        /Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]
        }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.3f %d\n", s, rss }' "$out" >>"$work/$tool.times"
    printf '   %-6s run %d: %6.2f s, %7.1f MiB peak RSS\n' "$tool" "$i" \
        $(tail -1 "$work/$tool.times" | awk '{ print $1, $2 / 1024 }') >&2
}

echo "== restoring $runs times with each tool" >&2
: >"$work/restic.times"
: >"$work/cairn.times"
for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="restic cairn"; else order="cairn restic"; fi
    for tool in $order; do
        run_restore "$tool" "$work/restore-$tool"
    done
done

# --- 4. identical results -----------------------------------------------------
echo "== comparing the restored trees" >&2
identical=yes
if ! diff -r --no-dereference "$work/restore-restic" "$work/restore-cairn" >"$work/diff.txt" 2>&1; then
    identical=no
    echo "content differs (diff -r):" >&2
    head -20 "$work/diff.txt" >&2
fi
# Everything restic restores and the test tree can carry: type, mode,
# owner, size, link count, mtime (ns) and symlink target. atime is left
# out: reading the files for `diff` changes it.
listing() {
    (cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%U\t%G\t%s\t%n\t%T@\t%l\n' | sort)
}
listing "$work/restore-restic" >"$work/meta-restic.txt"
listing "$work/restore-cairn" >"$work/meta-cairn.txt"
if ! diff "$work/meta-restic.txt" "$work/meta-cairn.txt" >"$work/meta-diff.txt"; then
    identical=no
    echo "metadata differs (path, type, mode, uid, gid, size, links, mtime, target):" >&2
    head -20 "$work/meta-diff.txt" >&2
fi
entries=$(wc -l <"$work/meta-restic.txt")

# --- 5. report --------------------------------------------------------------------
median() { # column $1 of file $2
    awk -v c="$1" '{ print $c }' "$2" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
rt=$(median 1 "$work/restic.times")
ct=$(median 1 "$work/cairn.times")
rm_=$(median 2 "$work/restic.times")
cm=$(median 2 "$work/cairn.times")

echo
echo "restore of latest snapshot: $src_files files, $src_dirs dirs, $((src_bytes / 1024 / 1024)) MiB;" \
    "repository ${repo_mb} MiB; median of $runs runs each"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version 2>/dev/null | head -1 || echo "$CAIRN")"
printf '%-16s %12s %12s %14s\n' "" restic cairn "cairn/restic"
awk -v rt="$rt" -v ct="$ct" -v rm="$rm_" -v cm="$cm" 'BEGIN {
    printf "%-16s %12.2f %12.2f %14.2f\n", "wall time (s)", rt, ct, (rt > 0 ? ct / rt : 0)
    printf "%-16s %12.1f %12.1f %14.2f\n", "peak RSS (MiB)", rm / 1024, cm / 1024, (rm > 0 ? cm / rm : 0)
}'
echo "restored trees identical ($entries entries, content + metadata): $identical"
echo "note: page caches could not be dropped (no privilege here), so the repository"
echo "      and source were warm in memory: this compares CPU, decryption and write"
echo "      paths rather than cold disk reads. Runs alternate which tool goes first."
[ "$identical" = yes ]
