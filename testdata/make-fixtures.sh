#!/usr/bin/env bash
# Build the fixture repositories under testdata/repos/ with the real restic.
#
# Run as root (mknod, chown and setuid bits need it):
#     sudo testdata/make-fixtures.sh            # uses `restic` from PATH
#     RESTIC=/path/to/restic testdata/make-fixtures.sh
#
# The source tree is recreated from scratch at $SRC (a fixed absolute path,
# because snapshots record absolute paths) and is NOT committed; only the
# repositories, the password and RESTIC_VERSION are.  Everything in the source
# tree (content, names, modes, owners, times) is deterministic; the
# repositories themselves are not (restic uses random keys, nonces and IDs).
#
# Needs: restic, openssl, od, truncate, mkfifo, mknod, setfattr (package
# `attr`), python3 (to create a unix socket).
set -euo pipefail

export TZ=UTC LC_ALL=C
umask 022

if [ "$(id -u)" != 0 ]; then
    echo "make-fixtures.sh must run as root (mknod, chown, setuid)" >&2
    exit 1
fi

RESTIC=${RESTIC:-restic}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/repos
BASE=/tmp/cairn-fixture
SRC=$BASE/src
PASSWORD=cairn-fixture

if ! command -v setfattr >/dev/null; then
    apt-get install -y attr >/dev/null
fi
for tool in "$RESTIC" openssl od truncate mkfifo mknod setfattr python3; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

# Deterministic pseudo-random bytes: AES-256-CTR keystream under a fixed key.
# $1 = number of bytes, $2 = one hex digit used as the key/IV "seed".
prng() {
    head -c "$1" /dev/zero |
        openssl enc -aes-256-ctr -nosalt \
            -K "$(printf "%064d" 0 | tr 0 "$2")" -iv "$(printf "%032d" 0 | tr 0 "$2")"
}
# Compressible-ish text: hex dump of pseudo-random bytes (~3x expansion,
# zstd gets it back to roughly half).
prtext() { prng "$1" "$2" | od -An -v -tx1; }

T_DEFAULT_M='2020-01-02 03:04:05.5'
T_DEFAULT_A='2020-05-06 07:08:09.987654321'

# Set every timestamp in the tree to a known value.  Run again right before
# each backup: reading files/dirs during a backup may move their atimes
# (relatime), and all three repositories must see identical trees.
# `touch -h -c` never opens anything (safe for FIFOs/devices/sockets).
stamp_times() {
    find "$SRC" -exec touch -h -c -m -d "$T_DEFAULT_M" {} + \
                -exec touch -h -c -a -d "$T_DEFAULT_A" {} +
    cd "$SRC/times"
    touch -h -m -d '2021-03-04 05:06:07.123456789' nanos
    touch -h -a -d '2021-03-04 05:06:07.000000001' nanos
    touch -h -m -d '1969-07-20 20:17:40.999999999' pre-1970
    touch -h -a -d '1960-01-01 00:00:00.5' pre-1970
    touch -h -m -d '1970-01-01 00:00:00' epoch
    touch -h -m -d '1901-12-13 20:45:52' before-int32
    touch -h -m -d '2100-02-03 04:05:06.000000007' future
    touch -h -a -d '2000-01-01 00:00:00' future
    touch -h -m -d '2019-12-31 23:59:59.999999999' symlink
    touch -h -a -d '2018-01-01 00:00:00.25' symlink
    touch -h -m -d '2021-03-04 05:06:07.123456789' dir-with-time
    touch -h -a -d '2001-02-03 04:05:06.7' dir-with-time
    touch -h -m -d '1965-05-05 05:05:05.050505050' dir-with-time/pre-1970-in-dir
    touch -h -m -d '2021-03-04 05:06:07.123456789' .
    cd "$SRC"
    if [ -e files/small.txt ] && grep -q changed files/small.txt; then
        touch -h -m -d '2022-01-02 09:00:00.000000042' files/small.txt
    fi
    cd /
}

build_tree() {
    rm -rf "$BASE"
    mkdir -p "$SRC"
    cd "$SRC"

    # --- regular files -------------------------------------------------------
    mkdir files
    : > files/empty
    printf 'hello, cairn\n' > files/small.txt
    printf 'no trailing newline' > files/no-newline.txt
    printf 'will be removed after the first snapshots\n' > files/removed-later.txt
    printf 'scratch, excluded by *.tmp in one snapshot\n' > files/scratch.tmp
    prng 100000 1 > files/medium.bin                      # incompressible
    prtext 300 2 > files/one-line-per-16-bytes.txt
    # Multi-chunk file (~2.3 MiB).  The 600 KiB zero run in the middle is
    # longer than the chunker's minimum size (512 KiB + 64-byte window), so a
    # cut is guaranteed whatever the chunker polynomial: >= 2 chunks always.
    { prtext 400000 3; head -c 614400 /dev/zero; prtext 150000 4; } > files/big.bin
    # exactly the chunker minimum, and one byte more
    prng 524288 5 > files/exactly-512KiB.bin
    { cat files/exactly-512KiB.bin; printf 'x'; } > files/512KiB-plus-1.bin

    # --- sparse file: 8 MiB hole with a few bytes in the middle --------------
    mkdir sparse
    truncate -s 8M sparse/sparse.img
    printf 'in the middle of nothing' |
        dd of=sparse/sparse.img bs=1 seek=4194304 conv=notrunc status=none
    truncate -s 1M sparse/all-hole.img

    # --- permission bits ------------------------------------------------------
    mkdir perms perms/d0700 perms/d0755 perms/d1777 perms/d0555 perms/d2775
    chmod 0700 perms/d0700; chmod 0755 perms/d0755; chmod 1777 perms/d1777
    chmod 2775 perms/d2775
    printf 'inside 0700\n' > perms/d0700/f
    printf 'inside sticky\n' > perms/d1777/f
    printf 'inside read-only dir\n' > perms/d0555/f
    printf 'setuid\n' > perms/setuid;        chmod 4755 perms/setuid
    printf 'setgid\n' > perms/setgid;        chmod 2755 perms/setgid
    printf 'suid+sgid+sticky\n' > perms/ugt; chmod 7751 perms/ugt
    printf 'read-only\n' > perms/r0444;      chmod 0444 perms/r0444
    printf 'no perms\n' > perms/r0000;       chmod 0000 perms/r0000
    printf 'exec\n' > perms/x0711;           chmod 0711 perms/x0711
    chmod 0555 perms/d0555                   # last: it makes the dir read-only

    # --- ownership (chown before chmod: chown clears setuid/setgid) ----------
    mkdir owner owner/dir-4321
    printf 'owned by 1234:5678\n' > owner/file-1234
    chown 1234:5678 owner/file-1234
    printf 'owned by 1234:5678, setuid\n' > owner/setuid-1234
    chown 1234:5678 owner/setuid-1234; chmod 4750 owner/setuid-1234
    printf 'gid only\n' > owner/gid-only
    chown 0:5678 owner/gid-only
    ln -s file-1234 owner/symlink-1234
    chown -h 1234:5678 owner/symlink-1234
    printf 'x\n' > owner/dir-4321/inner
    chown 4321:8765 owner/dir-4321/inner owner/dir-4321
    chmod 0750 owner/dir-4321

    # --- symlinks --------------------------------------------------------------
    mkdir links
    ln -s ../files/small.txt links/relative
    ln -s "$SRC/files/small.txt" links/absolute
    ln -s does/not/exist links/dangling
    ln -s ../files links/to-dir
    ln -s "$(printf 'bad-\xff\xfe-target')" links/non-utf8-target
    ln -s "$(printf 'tab\there and new\nline')" links/odd-chars-target
    ln -s self-loop links/self-loop
    ln -s "$(printf '%0200d' 0 | tr 0 a)" links/long-target

    # --- hard links: one file with 3 names, one with 2, spread over dirs ------
    mkdir hardlinks hardlinks/sub
    printf 'one inode, three names\n' > hardlinks/a
    ln hardlinks/a hardlinks/b
    ln hardlinks/a hardlinks/sub/c
    printf 'two names\n' > hardlinks/pair-1
    ln hardlinks/pair-1 hardlinks/pair-2
    : > hardlinks/empty-1
    ln hardlinks/empty-1 hardlinks/empty-2

    # --- special files ---------------------------------------------------------
    mkdir special
    mkfifo special/fifo
    mkfifo -m 0600 special/fifo-0600
    mknod special/chardev c 1 3            # same numbers as /dev/null
    mknod special/chardev-big c 254 65537  # major/minor beyond 8 bits
    mknod special/blockdev b 7 0
    chmod 0640 special/blockdev
    python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' special/socket

    # --- extended attributes -----------------------------------------------------
    mkdir xattr
    printf 'has xattrs\n' > xattr/file
    setfattr -n user.cairn -v value xattr/file
    setfattr -n user.binary -v 0x00ff01fe7f80 xattr/file
    setfattr -n user.empty xattr/file
    setfattr -n user.unicode -v 'ünïcödé 🪨' xattr/file
    : > xattr/empty-file
    setfattr -n user.on-empty -v 1 xattr/empty-file
    mkdir xattr/dir
    setfattr -n user.on-dir -v dir-value xattr/dir
    setfattr -n user.long -v "$(printf '%01000d' 7)" xattr/dir

    # --- awkward names -------------------------------------------------------------
    mkdir names
    cd names
    printf '1\n' > "$(printf '\xff\xfe')"
    printf '2\n' > "$(printf 'latin1-caf\xe9')"
    printf '3\n' > "$(printf 'tab\there')"
    printf '4\n' > "$(printf 'new\nline')"
    printf '5\n' > 'double"quote'
    printf '6\n' > "single'quote"
    printf '7\n' > 'back\slash'
    printf '8\n' > '<>&'
    printf '9\n' > "$(printf 'nbsp\xc2\xa0here')"
    printf '10\n' > "$(printf 'emoji-\xf0\x9f\xaa\xa8-cairn')"
    printf '11\n' > "$(printf 'ctrl-\x01\x7f')"
    printf '12\n' > ' leading space'
    printf '13\n' > 'trailing space '
    printf '14\n' > '-dash'
    printf '15\n' > '*star?[glob]'
    printf '16\n' > "$(printf 'cr\rhere')"
    printf '17\n' > "$(printf 'line-sep-\xe2\x80\xa8')"
    printf '18\n' > "$(printf 'e\xcc\x81-combining')"
    printf '19\n' > 'UPPER.txt'
    printf '20\n' > 'upper.txt'
    printf '21\n' > "$(printf '%0250d' 0 | tr 0 n)"
    mkdir "$(printf 'dir-\xff')"
    printf 'inside a non-UTF-8 dir\n' > "$(printf 'dir-\xff')/inner"
    cd ..

    # --- deep nesting --------------------------------------------------------------
    d=deep
    for i in $(seq 1 40); do d=$d/level$i; done
    mkdir -p "$d"
    printf 'bottom\n' > "$d/bottom.txt"

    # --- times (values set in stamp_times) -------------------------------------------
    mkdir times times/dir-with-time
    for f in nanos pre-1970 epoch before-int32 future; do printf '%s\n' "$f" > times/$f; done
    ln -s nanos times/symlink
    printf 'x\n' > times/dir-with-time/pre-1970-in-dir

    cd /
}

# Mutations between snapshots ------------------------------------------------
mutate_2() {
    cd "$SRC"
    printf 'hello, cairn (changed)\n' > files/small.txt
    printf 'added for snapshot 2\n' > files/added.txt
    rm files/removed-later.txt
    cd /
}
mutate_4() {
    cd "$SRC"
    # change 1 KiB in the middle of an existing file
    prng 1024 6 | dd of=files/medium.bin bs=1 seek=50000 conv=notrunc status=none
    rm hardlinks/b                      # the 3-name group loses a name
    mkdir new-dir
    printf 'new in snapshot 4\n' > new-dir/new.txt
    rm -r deep/level1/level2/level3/level4/level5
    chmod 0750 files                    # mode change only
    cd /
}

# $1 = "stamp" to reset the source tree's timestamps before each repository
# (a backup reads symlinks and directories, which moves their atimes), or "-".
restic_each() {
    local stamp=$1; shift
    for r in v1 v2 v2-uncompressed; do
        local extra=()
        [ "$r" = v2-uncompressed ] && extra=(--compression off)
        [ "$stamp" = stamp ] && stamp_times
        RESTIC_REPOSITORY=$OUT/$r "$RESTIC" "${extra[@]}" "$@"
    done
}

backup() {
    restic_each stamp backup --quiet "$@"
}

# ---------------------------------------------------------------------------
rm -rf "$OUT"
mkdir -p "$OUT"
printf '%s\n' "$PASSWORD" > "$OUT/password"
export RESTIC_PASSWORD_FILE=$OUT/password
export RESTIC_CACHE_DIR=$BASE/cache
"$RESTIC" version > "$OUT/RESTIC_VERSION"

"$RESTIC" -r "$OUT/v1" init --repository-version 1 >/dev/null
# Share the chunker polynomial so all three repositories chunk identically.
for r in v2 v2-uncompressed; do
    RESTIC_FROM_PASSWORD_FILE=$OUT/password \
        "$RESTIC" -r "$OUT/$r" init --repository-version 2 \
        --copy-chunker-params --from-repo "$OUT/v1" >/dev/null
done

build_tree

# 1: everything, host alpha
backup --host alpha --tag daily --tag first --time '2022-01-01 10:00:00' "$SRC"
# 2: after adding/changing/removing files
mutate_2
backup --host alpha --tag daily --time '2022-01-02 10:00:00' "$SRC"
# 3: two sub-paths on another host, with an exclude
backup --host beta --tag weekly --time '2022-01-03 10:00:00' \
    --exclude '*.tmp' "$SRC/files" "$SRC/names"
# 4: more changes, with real atimes
mutate_4
backup --host beta --tag daily,second --time '2022-01-04 10:00:00' --with-atime "$SRC"
# 5: a single directory, a third host, no tags
backup --host gamma --time '2022-01-05 10:00:00' --with-atime "$SRC/times"

restic_each - check --quiet >/dev/null
restic_each - snapshots

# No locks may be left behind; empty dirs are not kept by git anyway.
find "$OUT" -path '*/locks/*' -type f | grep . && { echo "stale lock" >&2; exit 1; }
find "$OUT" -type d -empty -delete
chmod -R u+rwX,go+rX "$OUT"
rm -rf "$BASE/cache"
du -sh "$OUT"/*
echo "fixtures written to $OUT; source tree left at $SRC"
