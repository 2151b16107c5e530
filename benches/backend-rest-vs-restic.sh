#!/usr/bin/env bash
# Backup and restore throughput through a REST server on loopback:
# `cairn` against Debian's restic on the same data, in one run, both
# talking to the same `cairn serve` (rest-server protocol v2).
#
#     benches/backend-rest-vs-restic.sh [SIZE_MB] [RUNS]     # defaults: 512 3
#
# Each run and tool: init a fresh repository on the server, back up the
# tree, restore the snapshot into an empty folder. Prints median wall
# time, peak client RSS and MiB/s for both, and the ratios cairn/restic.
# The server is the same for both tools, so its cost cancels out.
#
# Environment: RESTIC, CAIRN, WORK, KEEP=1 as in restore-vs-restic.sh.
set -euo pipefail
size_mb=${1:-512}
runs=${2:-3}
. "$(dirname "$0")/lib.sh"

echo "== building a ${size_mb} MiB tree in $work" >&2
build_tree "$size_mb" "$work/src" y
echo "bench" >"$work/password"
export RESTIC_PASSWORD_FILE=$work/password

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/serve"
"$CAIRN" serve --no-auth --path "$work/serve" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
done

for i in $(seq 1 "$runs"); do
    if [ $((i % 2)) = 1 ]; then order="restic cairn"; else order="cairn restic"; fi
    for tool in $order; do
        case $tool in restic) bin=$restic ;; cairn) bin=$CAIRN ;; esac
        repo="rest:http://127.0.0.1:$port/$tool-$i/"
        "$bin" -r "$repo" init >/dev/null 2>&1
        echo "== $tool, run $i" >&2
        timed "$tool-backup" "$bin" -r "$repo" --no-cache -q backup --host bench "$work/src"
        rm -rf "$work/restore-$tool"
        timed "$tool-restore" "$bin" -r "$repo" --no-cache -q restore latest --target "$work/restore-$tool"
    done
done

echo "== restic check --read-data on the last run's repositories" >&2
checks=ok
for tool in restic cairn; do
    "$restic" -r "rest:http://127.0.0.1:$port/$tool-$runs/" --no-cache check --read-data \
        >"$work/check-$tool.log" 2>&1 || { checks=FAILED; tail -5 "$work/check-$tool.log" >&2; }
done
same=ok
diff -r --no-dereference "$work/src" "$work/restore-cairn${work}/src" >/dev/null 2>&1 || same=DIFFERENT

mib=$(du -sm "$work/src" | cut -f1)
echo
echo "REST (cairn serve on loopback), median of $runs runs; $mib MiB, $(find "$work/src" -type f | wc -l) files"
echo "restic: $("$restic" version | cut -d' ' -f1-2); cairn: $("$CAIRN" version | head -1)"
report_header
for phase in backup restore; do report_row "$phase"; done
for phase in backup restore; do
    awk -v p="$phase" -v m="$mib" -v r="$(median 1 "$work/restic-$phase.times")" \
        -v c="$(median 1 "$work/cairn-$phase.times")" \
        'BEGIN { printf "%-8s throughput: restic %.0f MiB/s, cairn %.0f MiB/s\n", p, m / r, m / c }'
done
echo "restic check --read-data: $checks; cairn's restore equals the source: $same"
[ "$checks" = ok ] && [ "$same" = ok ]
