#!/usr/bin/env bash
# Reading through a FUSE mount: `cairn mount` against Debian's restic
# `restic mount` on the same repository, in one run.
#
#     benches/mount-vs-restic.sh [SIZE_MB] [RUNS]     # defaults: 1024 3
#
# 1. Makes one file of SIZE_MB MiB (random, so incompressible and never
#    deduplicated) and a tree of 10,000 small files (100 directories
#    of 100 files, 1 to 32 KiB each, deterministic content), and backs both
#    up with restic into a fresh repository.
# 2. RUNS times, alternating which tool goes first, each tool mounts the
#    repository (with --no-cache; the repository is local), and through
#    snapshots/latest/ the script times
#      - `cat` of the large file (sequential reads, read-ahead), and
#      - `tar c` of the 10,000-file tree piped to `wc -c` (lookups,
#        getattr, open and small reads; tar is not writing to /dev/null, so
#        GNU tar really reads every file),
#    then unmounts with `fusermount3 -u`. The mount process runs under
#    /usr/bin/time -v, so its peak RSS over both steps is recorded.
# 3. Checks that every read gave the right bytes: the large file's SHA-256
#    and the tar stream's file list and total size equal the source's.
# 4. Prints the medians and the ratios cairn/restic.
#
# Needs /dev/fuse and fusermount3 (Debian: fuse3). Environment: RESTIC,
# CAIRN, WORK, KEEP=1 as in the other scripts (see lib.sh).
set -euo pipefail
size_mb=${1:-1024}
runs=${2:-3}
. "$(dirname "$0")/lib.sh"
[ -e /dev/fuse ] || { echo "no /dev/fuse on this machine" >&2; exit 1; }
command -v fusermount3 >/dev/null || { echo "fusermount3 not found (apt-get install fuse3)" >&2; exit 1; }
if ! "$CAIRN" mount --help >/dev/null 2>&1; then
    echo "$CAIRN has no working 'mount' command" >&2
    exit 1
fi

src=$work/src
export RESTIC_REPOSITORY=$work/repo RESTIC_PASSWORD_FILE=$work/password
echo "cairn-mount-bench" >"$RESTIC_PASSWORD_FILE"

# --- 1. data and repository ---------------------------------------------------------
echo "== making a ${size_mb} MiB file and a 10,000-file tree in $src" >&2
mkdir -p "$src/tree"
head -c "${size_mb}M" /dev/urandom >"$src/large.bin"
python3 - "$src" <<'PY'
import os, random, sys
top = sys.argv[1]
rng = random.Random(42)
for d in range(100):
    os.makedirs(os.path.join(top, "tree", f"d{d:03}"), exist_ok=True)
    for n in range(100):
        size = rng.randint(1024, 32768)
        with open(os.path.join(top, "tree", f"d{d:03}", f"f{n:03}.dat"), "wb") as f:
            f.write(rng.randbytes(size))
PY
large_sum=$(sha256sum "$src/large.bin" | cut -d' ' -f1)
tree_list=$work/tree.list
(cd "$src" && find tree | sort) >"$tree_list"
tree_bytes=$(find "$src/tree" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
echo "== backing up with $("$restic" version | cut -d' ' -f1-2)" >&2
"$restic" init -q >/dev/null
"$restic" backup -q --no-cache --host bench "$src" >/dev/null
repo_mb=$(du -sm "$RESTIC_REPOSITORY" | cut -f1)
echo "   repository is ${repo_mb} MiB" >&2

# --- 2. mounted reads ----------------------------------------------------------------
# seconds CMD...: wall time of CMD in seconds, to stdout; CMD's output to
# $work/out.
seconds() {
    local t0
    t0=$(date +%s.%N)
    "$@" >"$work/out"
    echo "$(date +%s.%N) $t0" | awk '{ printf "%.3f", $1 - $2 }'
}
# tar's -v listing (to stderr with -f -) is the list of what it read.
tar_stream() { tar -C "$1" -cvf - tree 2>"$work/tar.raw" | wc -c; }
ok=yes
echo "== reading through the mount $runs times with each tool" >&2
for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="restic cairn"; else order="cairn restic"; fi
    for tool in $order; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        mp=$work/mnt-$tool
        mkdir -p "$mp"
        sync
        /usr/bin/time -v -o "$work/$tool-mount.time.txt" "$bin" --no-cache mount "$mp" >"$work/$tool-mount.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do
            [ -d "$mp/snapshots/latest" ] && break
            sleep 0.1
        done
        base=$(find "$mp/snapshots/latest/" -maxdepth 8 -name large.bin -printf '%h\n' | head -1)
        [ -n "$base" ] || { echo "$tool: mount did not come up:" >&2; cat "$work/$tool-mount.log" >&2; exit 1; }
        cat_s=$(seconds cat "$base/large.bin")
        sum=$(sha256sum <"$work/out" | cut -d' ' -f1)
        [ "$sum" = "$large_sum" ] || { ok=no; echo "$tool: large file content differs" >&2; }
        tar_s=$(seconds tar_stream "$base")
        sed 's,/$,,' "$work/tar.raw" | sort >"$work/tar.list"
        if ! diff -q "$tree_list" "$work/tar.list" >/dev/null || [ "$(cat "$work/out")" -le "$tree_bytes" ]; then
            ok=no
            echo "$tool: tar read another list of files, or fewer bytes, than the source has" >&2
        fi
        fusermount3 -u "$mp"
        wait "$pid" || true
        rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/$tool-mount.time.txt")
        echo "$cat_s $rss" >>"$work/$tool-cat.times"
        echo "$tar_s $rss" >>"$work/$tool-tar.times"
        printf '   %-7s cat %6.2f s, tar %6.2f s, %7.1f MiB peak RSS\n' "$tool" "$cat_s" "$tar_s" \
            "$(awk -v r="$rss" 'BEGIN { print r / 1024 }')" >&2
    done
done

# --- 3. report --------------------------------------------------------------------------
echo
echo "reading through FUSE: ${size_mb} MiB file + 10,000 files ($((tree_bytes / 1024 / 1024)) MiB);" \
    "repository ${repo_mb} MiB; median of $runs runs each (RSS: the mount process, whole run)"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version 2>/dev/null | head -1 || echo "$CAIRN")"
report_header
report_row cat
report_row tar
echo "every read gave the source's bytes: $ok"
[ "$ok" = yes ]
