#!/bin/bash
# Recreates the real-restic fixtures in this directory. Needs root (mknod,
# chown), setfattr (package "attr"), python3 and restic 0.14 (Debian's
# /usr/bin/restic, built with Go 1.19). Output varies with inode numbers,
# times and random keys, so rerunning gives different (but equally valid)
# files.
set -euo pipefail
OUT=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/cairn-fixture.XXXXXX)
S=$W/src; export S
export RESTIC_PASSWORD=cairn-test-password
mkdir -p "$S"
cd "$S"

# --- odd names -------------------------------------------------------------
for n in $'tab\there' $'new\nline' 'quote"d' 'back\slash' $'nbsp\u00a0x' \
         $'emoji\U0001F600' '<>&amp' $'\x01ctrl' $'del\x7f' $'bell\x07' \
         $'zwsp\u200bx' $'e\u0301' $'\u00e9' $'\u65e5\u672c' ' lead space' \
         $'ls\u2028ps\u2029' $'bom\ufeff' $'priv\ue000' $'astral\U000F0000' \
         $'cr\r' $'vt\vff\f' "it's" '-dash' '~tilde' 'UPPER' 'a.b.c' ; do
    printf '%s' "$n" > "$S/$n"
done
python3 - <<'PY'
import os
os.chdir(os.environ.get("S", "."))
for raw in [b"bad\xff\xfename", b"trunc\xe2\x82", b"sur\xed\xa0\x80", b"latin1-\xe9t\xe9"]:
    with open(raw, "wb") as f:
        f.write(raw)
PY

# --- special files -----------------------------------------------------------
: > empty
printf 'hello\n' > hl1 && ln hl1 hl2
mkfifo fifo
mknod blockdev b 7 200
mknod chardev c 1 3
python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind("sock")'
printf x > setuid && chmod 4755 setuid
printf x > setgid && chmod 2750 setgid
mkdir sticky && chmod 1777 sticky
mkdir -p 'dir<&>/sub dir' && printf deep > 'dir<&>/sub dir/f'
chown 12345:54321 'dir<&>/sub dir/f'
ln -s 'target<&>' link-plain
ln -s "$(printf 'tab\ttarget')" link-tab
printf x > xattrs
setfattr -n user.x -v y xattrs
setfattr -n user.bin -v 0x00ff10e2 xattrs
setfattr -n user.empty xattrs
touch -h -d '1900-01-01 00:00:00.123456789 UTC' link-plain
touch -d '2200-06-15 12:00:00.5 UTC' setuid
touch -d '1970-01-01 00:00:00 UTC' setgid
printf '%0100000d' 0 > zeros100k

# Separate dirs for things restic 0.14 (Go 1.19, no linktarget_raw) writes in
# a way current restic would not reproduce:
mkdir legacy-escapes
ln -s "$(printf 'bs\bff\f')" legacy-escapes/link-bs
mkdir lossy-link
python3 -c 'import os; os.symlink(b"/tmp/\xff\xfe-target", b"lossy-link/link")'

# --- repositories ----------------------------------------------------------
for v in 2 1; do
    R=$W/repo-v$v
    restic init --repository-version $v -r "$R" >/dev/null
    TZ=Asia/Kolkata restic -r "$R" backup --host fixture-host --tag t1 "$S" >/dev/null
    TZ=UTC restic -r "$R" backup --host fixture-host --tag t2 --with-atime "$S" >/dev/null
done

R=$W/repo-v2
rm -rf "$OUT/trees" && mkdir -p "$OUT/trees"
for id in $(restic -r "$R" list blobs | awk '$1=="tree"{print $2}'); do
    restic -r "$R" cat blob "$id" > "$OUT/trees/$id.json"
done
for v in 1 2; do
    R=$W/repo-v$v
    mkdir -p "$OUT/v$v"
    restic -r "$R" cat config > "$OUT/v$v/config.json"
    i=0; for id in $(restic -r "$R" list snapshots); do
        restic -r "$R" cat snapshot "$id" > "$OUT/v$v/snapshot-$i.json"; i=$((i+1)); done
    i=0; for id in $(restic -r "$R" list index); do
        restic -r "$R" cat index "$id" > "$OUT/v$v/index-$i.json"; i=$((i+1)); done
    for id in $(restic -r "$R" list keys); do
        cp "$R/keys/$id" "$OUT/v$v/key.json"; done
    restic -r "$R" cat masterkey > "$OUT/v$v/masterkey.json"
done
# Raw repository files (minus the 256 empty data/XX dirs), plus a lock
# captured while a backup from a held-open stdin was running.
for v in 1 2; do
    R=$W/repo-v$v
    rm -rf "$OUT/raw-v$v" && mkdir -p "$OUT/raw-v$v/data" "$OUT/raw-v$v/locks"
    (sleep 15 | restic -r "$R" backup --stdin --stdin-filename held-open >/dev/null 2>&1 &)
    sleep 6
    cp "$R"/locks/* "$OUT/raw-v$v/locks/"
    sleep 12
    for sub in config keys snapshots index; do cp -r "$R/$sub" "$OUT/raw-v$v/"; done
    find "$R/data" -type f -exec cp {} "$OUT/raw-v$v/data/" \;
done
chmod -R u+w,go+r "$OUT"
echo "$W"
