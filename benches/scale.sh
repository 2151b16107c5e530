#!/usr/bin/env bash
# restic, rustic and Cairn on generated trees of many small files: how the
# cost of each step grows with the number of files.
#
#     benches/scale.sh [FILES...]     # default: 100000 1000000
#
# For each FILES, a tree of that many small files is generated (a Python
# generator, deterministic: top/dNN/dNNN/fNNNNNNN.dat, 1000 files per
# directory at most, sizes 0-8 KiB skewed to the small end, each file
# unique: a per-file header, then text taken from a shared pool at a
# random offset, so it compresses like text). Then, for every tool on its
# own fresh repository, step by step (each step with every tool before the
# next step; the tools' order rotates from one FILES to the next):
#   fresh        first backup of the tree
#   unchanged    second backup (parent snapshot found by each tool)
#   ls           ls latest (output to /dev/null)
#   find         find of a pattern that matches 1 file in 100, in latest
#   restore      restore latest into an empty directory (deleted after)
#   forget       forget --keep-last 1 --prune
# Wall time, user+sys CPU time and peak RSS per step come from
# /usr/bin/time -v (lib.sh's `timed`). The table gives each step's time
# per file (microseconds) so that linear growth shows as a flat column
# across FILES, and the ratios cairn/restic and cairn/rustic.
#
# Disk: the tree takes about 5 KiB per file, one restore as much again
# (1,000,000 files: about 11 GB at the peak), repositories little (text
# compresses). Runs one round; compare CPU seconds on a busy machine.
#
# rustic is used when on PATH (or RUSTIC names it); install it with
#     cargo install rustic-rs --version 0.11.4 --no-default-features --locked
# TOOLS="restic cairn" limits the tools (default: all found).
# Environment: RESTIC, CAIRN, WORK, KEEP=1 as in the other scripts (see
# lib.sh). Source files are in the page cache as the generator left them.
set -euo pipefail
counts=("${@:-100000 1000000}")
# shellcheck disable=SC2206
counts=(${counts[*]})
for n in "${counts[@]}"; do
    case $n in '' | *[!0-9]*) echo "usage: $0 [FILES...]" >&2; exit 2 ;; esac
done
size_mb=0 runs=1
. "$(dirname "$0")/lib.sh"
if [ -z "${TOOLS:-}" ]; then
    find_tools
    TOOLS=$tools
else
    rustic=${RUSTIC:-$(command -v rustic || true)}
fi
echo "bench" >"$work/password"

# generate_tree FILES DEST: the generated tree (see the header).
generate_tree() {
    python3 - "$1" "$2" <<'PY'
import os, random, sys
n, dest = int(sys.argv[1]), sys.argv[2]
rng = random.Random(16)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
         for _ in range(4000)]
pool = b" ".join(rng.choice(words) for _ in range(300000))
pool_len = len(pool) - 8192
for i in range(n):
    if i % 1000 == 0:
        d = os.path.join(dest, "d%02d" % (i // 100000), "d%03d" % (i // 1000 % 100))
        os.makedirs(d, exist_ok=True)
    size = int(8192 * rng.random() ** 2)
    head = b"%d %016x\n" % (i, rng.getrandbits(64))
    off = rng.randrange(pool_len)
    data = (head + pool[off:off + size])[:size]
    with open(os.path.join(d, "f%07d.dat" % i), "wb") as f:
        f.write(data)
PY
}

# step TOOL N NAME ARGS...: one timed step; also records user+sys seconds.
step() {
    local tool=$1 n=$2 name=$3 label
    shift 3
    label=$tool-$name-$n
    set_cmd "$tool"
    timed "$label" "${CMD[@]}" "$@"
    awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.3f\n", s }' \
        "$work/$label.time.txt" >>"$work/$label.cpu"
}

steps="fresh unchanged ls find restore forget"
k=0
for n in "${counts[@]}"; do
    k=$((k + 1))
    order=$(echo $TOOLS | awk -v k="$k" '{ for (j = 0; j < NF; j++) printf "%s ", $(((j + k) % NF) + 1) }')
    tree=$work/tree-$n
    echo "== $n files: generating $tree" >&2
    rm -rf "$tree"
    generate_tree "$n" "$tree"
    echo "   $(du -sm "$tree" | cut -f1) MiB on disk, $(find "$tree" -type f | wc -l) files; order: $order" >&2
    # shellcheck disable=SC2086
    init_repos $order
    for s in $steps; do
        for tool in $order; do
            case $s in
            fresh | unchanged) step "$tool" "$n" "$s" backup --host bench "$tree" ;;
            ls) step "$tool" "$n" "$s" ls latest ;;
            find)
                case $tool in
                rustic) step "$tool" "$n" "$s" find latest --glob '*42.dat' ;;
                *) step "$tool" "$n" "$s" find -s latest '*42.dat' ;;
                esac
                found=$(grep -c '42\.dat' "$work/$tool-$s-$n.log" || true)
                [ "$found" -eq $((n / 100)) ] || { echo "$tool find: $found hits, expected $((n / 100))" >&2; exit 1; }
                ;;
            restore)
                rm -rf "$work/restore"
                case $tool in
                rustic) step "$tool" "$n" "$s" restore latest "$work/restore" ;;
                *) step "$tool" "$n" "$s" restore latest --target "$work/restore" ;;
                esac
                got=$(find "$work/restore" -type f | wc -l)
                [ "$got" -eq "$n" ] || { echo "$tool restore: $got files, expected $n" >&2; exit 1; }
                rm -rf "$work/restore"
                ;;
            forget) step "$tool" "$n" "$s" forget --keep-last 1 --prune ;;
            esac
        done
    done
    # Logs of ls hold a line per file; keep only their size.
    for tool in $order; do : >"$work/$tool-ls-$n.log"; done
    rm -rf "$tree" "$work"/repo-*
done

# cell TOOL STEP N COLUMN: wall seconds (1), peak KiB (2), CPU seconds (cpu); "-" if not run.
cell() {
    local f=$work/$1-$2-$3
    if [ "$4" = cpu ]; then [ -f "$f.cpu" ] && median 1 "$f.cpu" || echo -
    else [ -f "$f.times" ] && median "$4" "$f.times" || echo -; fi
}
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { if (x == "-" || y == "-" || y == 0) print "-"; else printf "%.2f", x / y }'; }
usf() { awk -v s="$1" -v n="$2" 'BEGIN { if (s == "-") print "-"; else printf "%.1f", s * 1e6 / n }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.0f", k / 1024 }'; }

echo
echo "one round per size; tools: $TOOLS; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "restic: $("$restic" version | cut -d' ' -f1-2); rustic: $([ -n "$rustic" ] && "$rustic" --version || echo -);" \
    "cairn: $("$CAIRN" version | head -1)"
for what in wall cpu; do
    echo
    if [ $what = wall ]; then echo "wall time, µs per file (seconds in brackets)"; col=1
    else echo "user+sys CPU time, µs per file (seconds in brackets)"; col=cpu; fi
    echo
    echo "| step | files | restic | rustic | cairn | cairn/restic | cairn/rustic |"
    echo "|---|---|---|---|---|---|---|"
    for s in $steps; do
        for n in "${counts[@]}"; do
            rt=$(cell restic "$s" "$n" $col) ut=$(cell rustic "$s" "$n" $col) ct=$(cell cairn "$s" "$n" $col)
            fmt() { [ "$1" = - ] && echo - || echo "$(usf "$1" "$n") ($1 s)"; }
            echo "| $s | $n | $(fmt "$rt") | $(fmt "$ut") | $(fmt "$ct") | $(ratio "$ct" "$rt") | $(ratio "$ct" "$ut") |"
        done
    done
done
echo
echo "peak RSS, MiB"
echo
echo "| step | files | restic | rustic | cairn | cairn/restic | cairn/rustic |"
echo "|---|---|---|---|---|---|---|"
for s in $steps; do
    for n in "${counts[@]}"; do
        rm_=$(cell restic "$s" "$n" 2) um=$(cell rustic "$s" "$n" 2) cm=$(cell cairn "$s" "$n" 2)
        echo "| $s | $n | $(mib "$rm_") | $(mib "$um") | $(mib "$cm") | $(ratio "$cm" "$rm_") | $(ratio "$cm" "$um") |"
    done
done
