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
# (default: a new temp directory), KEEP=1 keeps WORK afterwards. The
# shared helpers are in lib.sh.
set -euo pipefail
size_mb=${1:-1024}
runs=${2:-3}
. "$(dirname "$0")/lib.sh"
if ! "$CAIRN" restore --help >/dev/null 2>&1; then
    echo "$CAIRN has no working 'restore' command" >&2
    exit 1
fi

src=$work/src
export RESTIC_REPOSITORY=$work/repo RESTIC_PASSWORD_FILE=$work/password
echo "cairn-restore-bench" >"$RESTIC_PASSWORD_FILE"

# --- 1. test tree -----------------------------------------------------------
echo "== building a ${size_mb} MiB test tree in $src" >&2
build_tree "$size_mb" "$src"
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
# Both tools get --no-cache: the repository is local, and restic's cache
# would otherwise be built (and timed) on its first run only.
echo "== restoring $runs times with each tool" >&2
for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="restic cairn"; else order="cairn restic"; fi
    for tool in $order; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        rm -rf "$work/restore-$tool"
        timed "$tool-restore" "$bin" --no-cache -q restore latest --target "$work/restore-$tool"
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
# out: reading the files for `diff` changes it. A directory's size is the
# file system's bookkeeping (blocks of entries, which depend on the order
# entries were created and removed in); no restore sets it, so it is
# shown as "-".
listing() {
    (cd "$1" && find . -mindepth 1 -printf '%P\t%y\t%m\t%U\t%G\t%s\t%n\t%T@\t%l\n' |
        awk -F'\t' -v OFS='\t' '$2 == "d" { $6 = "-" } { print }' | sort)
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
echo
echo "restore of latest snapshot: $src_files files, $src_dirs dirs, $((src_bytes / 1024 / 1024)) MiB;" \
    "repository ${repo_mb} MiB; median of $runs runs each"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version 2>/dev/null | head -1 || echo "$CAIRN")"
report_header
report_row restore
echo "restored trees identical ($entries entries, content + metadata): $identical"
echo "note: page caches could not be dropped (no privilege here), so the repository"
echo "      and source were warm in memory: this compares CPU, decryption and write"
echo "      paths rather than cold disk reads. Runs alternate which tool goes first."
[ "$identical" = yes ]
