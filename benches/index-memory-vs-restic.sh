#!/usr/bin/env bash
# Memory of the in-memory index: Cairn against Debian's restic on the same
# repository of millions of blobs, in one run.
#
#     benches/index-memory-vs-restic.sh [BLOBS...]     # default: 2000000 4000000
#
# For each BLOBS, a copy of one repository (made once by `restic init`,
# format v2, so every copy has the same key and the same scrypt cost) gets
# one real blob and index files naming BLOBS random blobs in fake packs,
# written with Cairn's library (benches/examples/fake_index_repo.rs; no
# fake pack is written). `cat blob ID` of the real blob loads the whole
# index (both tools build their full in-memory index for it) and then reads
# one small blob, so its peak RSS is the index plus the process's fixed
# cost. (restic 0.14's `list blobs` reads one index file at a time and
# never builds the index, so it cannot be used.) The fixed cost is
# measured on the repository with only the real blob and subtracted:
# "B/blob" is (peak RSS - that peak RSS) / BLOBS. Memory does not depend
# on machine load, so this can run on a busy machine.
#
# Environment: RESTIC, CAIRN, WORK, KEEP=1 as in restore-vs-restic.sh;
# FAKE_INDEX_REPO: a built fake_index_repo example (default: builds it).
set -euo pipefail
counts=("${@:-2000000 4000000}")
# shellcheck disable=SC2206
counts=(${counts[*]})
for n in "${counts[@]}"; do
    case $n in '' | *[!0-9]*) echo "usage: $0 [BLOBS...]" >&2; exit 2 ;; esac
done
size_mb=0 runs=1
. "$(dirname "$0")/lib.sh"
need_fake_index_repo
echo "bench" >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password

# peak_kib TOOL REPO BLOB: runs `TOOL cat blob BLOB` under /usr/bin/time,
# checks it printed the real blob's content, prints its peak RSS in KiB.
peak_kib() {
    local bin=$1 repo=$2 blob=$3 out=$work/time.txt
    if ! /usr/bin/time -v -o "$out" "$bin" -r "$repo" --no-cache cat blob "$blob" >"$work/blob.txt" 2>"$work/err.txt" ||
        [ "$(cat "$work/blob.txt")" != "cairn index memory bench" ]; then
        echo "$bin cat blob $blob failed:" >&2
        tail -5 "$work/err.txt" >&2
        exit 1
    fi
    awk -F': ' '/Maximum resident set size/ { print $2 }' "$out"
}

"$restic" -r "$work/repo-init" init >/dev/null 2>&1
echo "== repository with only the real blob (fixed cost)" >&2
cp -a "$work/repo-init" "$work/repo-0"
blob=$("$FAKE_INDEX_REPO" "$work/repo-0" "$work/password" 0)
base_restic=$(peak_kib "$restic" "$work/repo-0" "$blob")
base_cairn=$(peak_kib "$CAIRN" "$work/repo-0" "$blob")

rows=()
for n in "${counts[@]}"; do
    repo=$work/repo-$n
    echo "== $n blobs" >&2
    cp -a "$work/repo-init" "$repo"
    blob=$("$FAKE_INDEX_REPO" "$repo" "$work/password" "$n")
    r=$(peak_kib "$restic" "$repo" "$blob")
    c=$(peak_kib "$CAIRN" "$repo" "$blob")
    rows+=("$n $r $c $(du -sm "$repo/index" | cut -f1)")
    rm -rf "$repo"
done

echo
echo "index memory: peak RSS of \`cat blob\` (loads the whole index) on a repository of N random blobs"
echo "(format v2, 150 blobs per pack, 50,000 per index file)"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version | head -1)"
printf 'repository of 1 blob: restic %.1f MiB, cairn %.1f MiB (subtracted below)\n' \
    "$(echo "$base_restic" | awk '{ print $1 / 1024 }')" "$(echo "$base_cairn" | awk '{ print $1 / 1024 }')"
printf '%10s %9s %12s %11s %12s %11s %7s\n' blobs "index MiB" "restic MiB" "restic B/blob" "cairn MiB" "cairn B/blob" ratio
for row in "${rows[@]}"; do
    echo "$row" | awk -v br="$base_restic" -v bc="$base_cairn" '{
        r = ($2 - br) * 1024 / $1; c = ($3 - bc) * 1024 / $1
        printf "%10d %9d %12.1f %13.1f %12.1f %11.1f %7.2f\n", $1, $4, $2 / 1024, r, $3 / 1024, c, (r > 0 ? c / r : 0) }'
done
