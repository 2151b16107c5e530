# Shared by the Cairn-against-restic comparison scripts in this folder.
# Source it after setting `size_mb` and `runs`; it sets root, restic,
# CAIRN and work, and defines build_tree, timed and median.

export LC_ALL=C
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

work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench.XXXXXX")}
mkdir -p "$work"
cleanup() { if [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; else echo "kept $work" >&2; fi; }
trap cleanup EXIT

# build_tree MIB DEST [SEED]: a tree of about MIB MiB of real files, a
# deterministic pseudo-random selection of /usr/lib, /usr/share and
# /usr/bin (no network needed; mixed sizes and types, hard links and
# symlinks kept). Another SEED gives another, overlapping selection.
build_tree() {
    local mib=$1 dest=$2 seed=${3:-y}
    mkdir -p "$dest"
    # shuf with a constant random source gives the same selection every
    # time on the same machine; sizes are apparent sizes.
    find /usr/lib /usr/share /usr/bin -xdev \( -type f -o -type l \) -printf '%s\t%P\t%H\n' 2>/dev/null |
        shuf --random-source=<(yes "$seed") |
        awk -F'\t' -v limit=$((mib * 1024 * 1024)) '
            # Skip files that would overshoot, so one huge library cannot
            # blow up a small test size. Read to the end (no early exit):
            # shuf would die of SIGPIPE and fail the pipeline.
            sum + $1 <= limit { sum += $1; sub("^/", "", $3); print ($3 == "" ? "" : $3 "/") $2 }' >"$dest.files"
    tar -C / --no-recursion -cf - -T "$dest.files" | tar -C "$dest" -xf -
}

# set_cache_state DIR...: before a timed run, puts the files below DIR in
# the state the run should start from. By default they are evicted from
# the page cache (posix_fadvise DONTNEED per file; dropping all caches
# needs a privilege this VM does not give), as for a nightly backup of
# files nobody read since the last one. With WARM=1 they are read into
# it instead. Either way both tools start alike: this VM's host reclaims
# idle page cache within seconds, so leaving the cache alone would leave
# each run's start to chance.
set_cache_state() {
    if [ "${WARM:-0}" = 1 ]; then
        find "$@" -type f -print0 | xargs -0 -r cat >/dev/null
    else
        python3 - "$@" <<'PY'
import os, sys
for top in sys.argv[1:]:
    for d, _, files in os.walk(top):
        for f in files:
            try:
                fd = os.open(os.path.join(d, f), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
PY
    fi
}

# cache_state_note: one line saying which state set_cache_state gives.
cache_state_note() {
    if [ "${WARM:-0}" = 1 ]; then
        echo "source files were read into the page cache before each timed run (WARM=1)."
    else
        echo "source files were evicted from the page cache before each timed run (WARM=1 reads them in instead)."
    fi
}

# timed LABEL CMD...: runs CMD under /usr/bin/time -v and appends
# "seconds peak-KiB" to $work/LABEL.times.
timed() {
    local label=$1 out=$work/$1.time.txt
    shift
    sync # flush the previous run's writes so they are not charged to this one
    if ! /usr/bin/time -v -o "$out" "$@" >"$work/$label.log" 2>&1; then
        echo "$label failed:" >&2
        tail -20 "$work/$label.log" >&2
        exit 1
    fi
    awk -F': ' '
        /Elapsed \(wall clock\)/ {
            n = split($2, p, ":"); s = 0
            for (i = 1; i <= n; i++) s = s * 60 + p[i]
        }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.3f %d\n", s, rss }' "$out" >>"$work/$label.times"
    printf '   %-24s %6.2f s, %7.1f MiB peak RSS\n' "$label" \
        $(tail -1 "$work/$label.times" | awk '{ print $1, $2 / 1024 }') >&2
}

# find_tools: sets rustic (RUSTIC, or rustic on PATH) and tools ("restic
# rustic cairn", or "restic cairn" with a note on how to install rustic).
find_tools() {
    rustic=${RUSTIC:-$(command -v rustic || true)}
    tools="restic cairn"
    if [ -n "$rustic" ] && [ -x "$rustic" ]; then
        tools="restic rustic cairn"
    else
        echo "rustic not found: install it with" >&2
        echo "    cargo install rustic-rs --version 0.11.4 --no-default-features --locked" >&2
        echo "or set RUSTIC; running restic and cairn only" >&2
    fi
}

# set_cmd TOOL: sets CMD to TOOL's command line on its own repository
# ($work/repo-TOOL), without a cache (the repositories are local) and
# without progress output.
set_cmd() {
    case $1 in
    restic) CMD=("$restic" -r "$work/repo-restic" --password-file "$work/password" --no-cache -q) ;;
    cairn) CMD=("$CAIRN" -r "$work/repo-cairn" --password-file "$work/password" --no-cache -q) ;;
    rustic) CMD=("$rustic" -r "$work/repo-rustic" --password-file "$work/password" --no-cache --no-progress) ;;
    esac
}

# init_repos TOOL...: a fresh repository for each tool (see set_cmd), all
# copies of one empty repository that restic initialised: the same master
# key, chunker polynomial and key-derivation parameters for every tool.
# (Each tool's own `init` would calibrate scrypt to its own speed, as
# restic and Cairn do, or pick fixed parameters, as rustic does: 128 MiB.
# The key derivation runs on every command, so a fair comparison gives all
# tools the same key file.)
init_repos() {
    local tool template=$work/repo-template
    rm -rf "$template"
    "$restic" -r "$template" --password-file "$work/password" init >"$work/init.log" 2>&1 ||
        { cat "$work/init.log" >&2; exit 1; }
    for tool in "$@"; do
        rm -rf "$work/repo-$tool"
        cp -a "$template" "$work/repo-$tool"
    done
}

# need_fake_index_repo: sets FAKE_INDEX_REPO to the built fake_index_repo
# example (benches/examples), building it unless FAKE_INDEX_REPO is set.
need_fake_index_repo() {
    if [ -z "${FAKE_INDEX_REPO:-}" ]; then
        echo "building the fake_index_repo example (release)..." >&2
        (cd "$root" && cargo build --release -q -p cairn-benches --example fake_index_repo)
        FAKE_INDEX_REPO=$root/target/release/examples/fake_index_repo
    fi
}

# median COLUMN FILE
median() {
    awk -v c="$1" '{ print $c }' "$2" | sort -g |
        awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# report_row NAME: one table row comparing $work/restic-NAME.times with
# $work/cairn-NAME.times.
report_row() {
    local rt ct rm cm
    rt=$(median 1 "$work/restic-$1.times"); ct=$(median 1 "$work/cairn-$1.times")
    rm=$(median 2 "$work/restic-$1.times"); cm=$(median 2 "$work/cairn-$1.times")
    awk -v n="$1" -v rt="$rt" -v ct="$ct" -v rm="$rm" -v cm="$cm" 'BEGIN {
        printf "%-22s %9.2f %9.2f %7.2f   %9.1f %9.1f %7.2f\n", n, rt, ct, (rt > 0 ? ct / rt : 0),
            rm / 1024, cm / 1024, (rm > 0 ? cm / rm : 0) }'
}

report_header() {
    printf '%-22s %9s %9s %7s   %9s %9s %7s\n' "" "restic s" "cairn s" ratio "restic MiB" "cairn MiB" ratio
}
