#!/usr/bin/env bash
# Backup and restore through S3: `cairn` against Debian's restic, both
# talking to one moto server (an S3 emulator, `pip install 'moto[server]'`)
# on 127.0.0.1, in one run.
#
#     benches/backend-s3-vs-restic.sh [SIZE_MB] [RUNS]     # defaults: 256 3
#
# For each run and each tool, in a fresh bucket of its own: `init`, a
# first backup of the tree, a restore of it (compared with the source).
# Then both repositories pass `restic check --read-data`. Prints medians
# of wall time and peak RSS, the ratios cairn/restic, and throughput.
# moto keeps everything in memory and is slow itself (Python), so the
# figures compare the clients' S3 paths, not a real store's speed.
#
# Environment: RESTIC, CAIRN, WORK, KEEP=1 as in restore-vs-restic.sh;
# MOTO (default moto_server).
set -euo pipefail
size_mb=${1:-256}
runs=${2:-3}
. "$(dirname "$0")/lib.sh"

moto=${MOTO:-$(command -v moto_server || true)}
[ -x "$moto" ] || { echo "moto_server not found (pip install 'moto[server]', or set MOTO)" >&2; exit 1; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_EC2_METADATA_DISABLED=true
echo "bench" >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password

echo "== building a ${size_mb} MiB tree in $work" >&2
build_tree "$size_mb" "$work/src" y
mib=$(du -sm "$work/src" | cut -f1)

for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="restic cairn"; else order="cairn restic"; fi
    for tool in $order; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        repo=s3:http://127.0.0.1:$port/bench-$tool-$i/repo
        "$bin" -r "$repo" init >/dev/null 2>&1
        echo "== $tool, run $i" >&2
        timed "$tool-backup" "$bin" -r "$repo" --no-cache -q backup --host bench "$work/src"
        rm -rf "$work/restore-$tool"
        timed "$tool-restore" "$bin" -r "$repo" --no-cache -q restore latest --target "$work/restore-$tool"
        diff -r --no-dereference "$work/src" "$work/restore-$tool$work/src" >/dev/null ||
            { echo "$tool restore differs from the source" >&2; exit 1; }
    done
done

echo "== restic check --read-data on both repositories" >&2
checks=ok
for tool in restic cairn; do
    "$restic" -r "s3:http://127.0.0.1:$port/bench-$tool-$runs/repo" --no-cache check --read-data \
        >"$work/check-$tool.log" 2>&1 || { checks=FAILED; tail -5 "$work/check-$tool.log" >&2; }
done

echo
echo "S3 (moto on 127.0.0.1), median of $runs runs; tree $mib MiB, $(find "$work/src" -type f | wc -l) files"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version | head -1)"
report_header
for phase in backup restore; do report_row "$phase"; done
for phase in backup restore; do
    for tool in restic cairn; do
        printf '%s %s: %.1f MiB/s\n' "$tool" "$phase" \
            "$(awk -v m="$mib" -v s="$(median 1 "$work/$tool-$phase.times")" 'BEGIN { print (s > 0 ? m / s : 0) }')"
    done
done
echo "restic check --read-data on both repositories: $checks"
[ "$checks" = ok ]
