#!/usr/bin/env bash
# Build the rustic-written fixture repository under testdata/rustic/repos/
# with the real rustic (https://rustic.cli.rs), for the interop tests in
# crates/cairn-cli/tests/rustic_interop.rs.
#
#     testdata/rustic/make-fixtures.sh                  # `rustic` from PATH
#     RUSTIC=/path/to/rustic testdata/rustic/make-fixtures.sh
#
# Made with rustic-rs 0.11.4 (`cargo install rustic-rs --version 0.11.4
# --no-default-features --locked`); the exact `rustic --version` output is
# kept in repos/RUSTIC_VERSION.
#
# The source tree is recreated at the fixed path $SRC (snapshots record
# absolute paths) and is NOT committed; what each snapshot holds is recorded
# in repos/manifest-<n>.txt (one line per entry: type, mode, path, then the
# SHA-256 of a file or the target of a symlink), which the tests compare a
# restore against.  The repository itself is not deterministic (random
# keys, nonces and IDs), so tests must not hard-code IDs.
#
# Needs: rustic, openssl, sha256sum, find, touch.
set -euo pipefail

export TZ=UTC LC_ALL=C
umask 022

RUSTIC=${RUSTIC:-rustic}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$HERE/repos
BASE=/tmp/cairn-rustic-fixture
SRC=$BASE/src
PASSWORD=cairn-fixture

for tool in "$RUSTIC" openssl sha256sum find touch; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

# rustic reads config profiles (rustic.toml) from the user's config dirs;
# point HOME and XDG_CONFIG_HOME at an empty directory so none applies.
export HOME=$BASE/home XDG_CONFIG_HOME=$BASE/home/.config
unset RUSTIC_REPOSITORY RUSTIC_PASSWORD RUSTIC_PASSWORD_FILE RUSTIC_PASSWORD_COMMAND
# Run from $OUT with relative paths: rustic records its whole command line
# in each snapshot's summary, and it should not name this machine's paths.
r() { (cd "$OUT" && "$RUSTIC" --no-progress --no-cache -r v2 --password-file password "$@"); }

# Deterministic pseudo-random bytes: AES-256-CTR keystream under a fixed key.
prng() {
    head -c "$1" /dev/zero |
        openssl enc -aes-256-ctr -nosalt \
            -K "$(printf "%064d" 0 | tr 0 "$2")" -iv "$(printf "%032d" 0 | tr 0 "$2")"
}

stamp_times() {
    find "$SRC" -exec touch -h -c -m -d '2023-01-02 03:04:05.25' {} + \
                -exec touch -h -c -a -d '2023-02-03 04:05:06.5' {} +
}

# What the source tree holds now, in the manifest format described above.
manifest() {
    (cd "$SRC" && find . -mindepth 1 | sort | while IFS= read -r p; do
        if [ -L "$p" ]; then
            printf 'l %s %s %s\n' "$(stat -c %a "$p")" "$p" "$(readlink "$p")"
        elif [ -d "$p" ]; then
            printf 'd %s %s\n' "$(stat -c %a "$p")" "$p"
        else
            printf 'f %s %s %s\n' "$(stat -c %a "$p")" "$p" "$(sha256sum < "$p" | cut -d' ' -f1)"
        fi
    done)
}

build_tree() {
    rm -rf "$SRC"
    mkdir -p "$SRC/dir/sub"
    cd "$SRC"
    printf 'hello from rustic\n' > hello.txt
    : > empty
    ln -s hello.txt link-to-hello
    ln -s does/not/exist dangling
    prng 20000 1 > dir/random.bin
    printf 'nested\n' > dir/sub/nested.txt
    chmod 0750 dir/sub
    chmod 0600 dir/sub/nested.txt
    cd /
}

# $1 = snapshot number (for the manifest); the rest: rustic backup options.
backup() {
    local n=$1; shift
    stamp_times
    manifest > "$OUT/manifest-$n.txt"
    r backup "$@" "$SRC" >/dev/null
}

rm -rf "$OUT" "$BASE"
mkdir -p "$OUT" "$HOME"
printf '%s\n' "$PASSWORD" > "$OUT/password"
"$RUSTIC" --version > "$OUT/RUSTIC_VERSION"
r init >/dev/null

build_tree
# 1: plain
backup 1 --host alpha --tag daily --time '2023-01-01 10:00:00'
# 2: every field rustic has and restic does not; protected from rustic's forget
backup 2 --host alpha --tag daily,protected --time '2023-01-02 10:00:00' \
    --label 'nightly <db> & co' --description "$(printf 'first line\nsecond line')" \
    --delete-never
# 3: after a change
printf 'hello again\n' > "$SRC/hello.txt"
printf 'added\n' > "$SRC/dir/added.txt"
backup 3 --host alpha --tag daily --time '2023-01-03 10:00:00' --label later

r check --read-data >/dev/null
r snapshots

find "$OUT" -type d -empty -delete
chmod -R u+rwX,go+rX "$OUT"
du -sh "$OUT"
echo "fixtures written to $OUT; source tree left at $SRC"
