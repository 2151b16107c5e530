#!/usr/bin/env bash
# restic and Cairn on a repository of many blobs: opening it, listing its
# snapshots, reading one blob (which loads the whole index) and checking it.
#
#     benches/many-blobs.sh [BLOBS...]     # default: 10000000
#
# For each BLOBS, a repository (format v2, made by `restic init`) gets
# BLOBS real data blobs of 40 bytes of unique content in real 4 MiB packs,
# with their index files, written with Cairn's library
# (benches/examples/fake_index_repo.rs in its `real` mode, the generator of
# index-memory-vs-restic.sh), then one small snapshot made by restic. Then,
# step by step, each tool in turn (order alternating by round):
#   snapshots   open the repository and list its snapshots
#   cat-blob    cat blob ID of one blob (loads the whole index)
#   check       check (structure, index and packs; not --read-data)
# Wall time, user+sys CPU and peak RSS come from /usr/bin/time -v (lib.sh's
# `timed`). restic's check must pass: the repository is a valid one.
#
# Disk: about 110 bytes per blob (10,000,000 blobs: about 1.1 GB).
# Environment: RESTIC, CAIRN, WORK, KEEP=1 as in the other scripts (see
# lib.sh); FAKE_INDEX_REPO: a built fake_index_repo example (default:
# builds it); ROUNDS (default 1).
set -euo pipefail
counts=("${@:-10000000}")
# shellcheck disable=SC2206
counts=(${counts[*]})
for n in "${counts[@]}"; do
    case $n in '' | *[!0-9]*) echo "usage: $0 [BLOBS...]" >&2; exit 2 ;; esac
done
size_mb=0 runs=${ROUNDS:-1}
. "$(dirname "$0")/lib.sh"
need_fake_index_repo
echo "bench" >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password

steps="snapshots cat-blob check"
for n in "${counts[@]}"; do
    repo=$work/repo-$n
    echo "== $n blobs: generating $repo" >&2
    rm -rf "$repo"
    "$restic" -r "$repo" init >/dev/null 2>&1
    start=$(date +%s)
    blob=$("$FAKE_INDEX_REPO" "$repo" "$work/password" "$n" real)
    mkdir -p "$work/small" && echo "many-blobs bench" >"$work/small/file"
    "$restic" -r "$repo" --no-cache -q backup --host bench "$work/small" >/dev/null
    echo "   generated in $(($(date +%s) - start)) s: $(du -sm "$repo" | cut -f1) MiB," \
        "$(find "$repo/data" -type f | wc -l) packs, $(find "$repo/index" -type f | wc -l) index files" >&2
    for i in $(seq 1 "$runs"); do
        order="restic cairn"
        [ $((i % 2)) = 0 ] && order="cairn restic"
        for s in $steps; do
            for tool in $order; do
                bin=$restic
                [ "$tool" = cairn ] && bin=$CAIRN
                label=$tool-$s-$n
                case $s in
                snapshots) timed "$label" "$bin" -r "$repo" --no-cache snapshots ;;
                cat-blob)
                    timed "$label" "$bin" -r "$repo" --no-cache cat blob "$blob"
                    grep -q "cairn index memory bench" "$work/$label.log" ||
                        { echo "$tool cat blob printed the wrong content" >&2; exit 1; }
                    ;;
                check) timed "$label" "$bin" -r "$repo" --no-cache check ;;
                esac
                awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.3f\n", s }' \
                    "$work/$label.time.txt" >>"$work/$label.cpu"
            done
        done
    done
    rm -rf "$repo"
done

cell() {
    local f=$work/$1-$2-$3
    if [ "$4" = cpu ]; then median 1 "$f.cpu"; else median "$4" "$f.times"; fi
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (y == 0) print "-"; else printf "%.2f", x / y }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

echo
echo "median of $runs round(s); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version | head -1)"
echo
echo "| step | blobs | restic wall | cairn wall | ratio | restic CPU | cairn CPU | ratio | restic MiB | cairn MiB | ratio |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for s in $steps; do
    for n in "${counts[@]}"; do
        rt=$(cell restic "$s" "$n" 1) ct=$(cell cairn "$s" "$n" 1)
        ru=$(cell restic "$s" "$n" cpu) cu=$(cell cairn "$s" "$n" cpu)
        rm_=$(cell restic "$s" "$n" 2) cm=$(cell cairn "$s" "$n" 2)
        echo "| $s | $n | $rt s | $ct s | $(ratio "$ct" "$rt") | $ru s | $cu s | $(ratio "$cu" "$ru") |" \
            "$(mib "$rm_") | $(mib "$cm") | $(ratio "$cm" "$rm_") |"
    done
done
