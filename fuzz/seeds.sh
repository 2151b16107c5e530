#!/usr/bin/env bash
# Generates seed corpora for the fuzz targets from the restic 0.14 fixture
# repositories in testdata/repos (decrypted with the real restic), so the
# fuzzer starts from realistic trees, indexes, snapshots, key files and pack
# headers instead of having to discover JSON by itself. Corpora are not
# committed (fuzz/corpus is git-ignored); run this once before fuzzing:
#
#     fuzz/seeds.sh            # writes fuzz/corpus/<target>/
#
# Needs: restic (Debian's 0.14 at /usr/bin/restic is fine), jq, zstd,
# python3 (standard library only, to pack binary pack-header seeds).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPOS=$HERE/../testdata/repos
OUT=${1:-$HERE/corpus}
RESTIC=${RESTIC:-restic}
for tool in "$RESTIC" jq zstd python3 sha1sum; do
    command -v "$tool" >/dev/null || { echo "seeds.sh: missing tool $tool" >&2; exit 1; }
done

# put TARGET < data: store stdin under its content hash so reruns dedupe.
put() {
    local dir=$OUT/$1 tmp
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.tmp.XXXXXX")
    cat >"$tmp"
    mv "$tmp" "$dir/$(sha1sum <"$tmp" | cut -c1-40)"
}

# unpacked seeds are `selector byte, claimed length (u32 LE), payload`; see
# fuzz_targets/unpacked.rs. $1 = selector, $2 = claimed length.
unpacked_prefix() {
    python3 -c 'import sys, struct; sys.stdout.buffer.write(bytes([int(sys.argv[1])]) + struct.pack("<I", int(sys.argv[2])))' "$1" "$2"
}

# Pack header plaintext (restic's format) for every pack of an index JSON
# on stdin: per blob a type byte (0 data, 1 tree, +2 when compressed), the
# stored length (u32 LE), the uncompressed length when compressed, the ID.
pack_headers() {
    python3 -c '
import json, os, struct, sys
out = sys.argv[1]
for pack in json.load(sys.stdin)["packs"]:
    h = b""
    for b in pack["blobs"]:
        t = 0 if b["type"] == "data" else 1
        ul = b.get("uncompressed_length")
        if ul:
            h += bytes([t + 2]) + struct.pack("<II", b["length"], ul)
        else:
            h += bytes([t]) + struct.pack("<I", b["length"])
        h += bytes.fromhex(b["id"])
    with open(os.path.join(out, pack["id"][:40]), "wb") as f:
        f.write(h)
' "$OUT/pack_header"
}

mkdir -p "$OUT/pack_header"
for repo in "$REPOS"/v1 "$REPOS"/v2 "$REPOS"/v2-uncompressed; do
    [ -d "$repo" ] || continue
    r=("$RESTIC" -r "$repo" --password-file "$REPOS/password" --no-cache -q --no-lock)
    version=$(basename "$repo" | cut -c2)

    for k in "$repo"/keys/*; do
        put key_file <"$k"
    done
    # Raw sealed files: valid framing under the repository's key (not the
    # fuzz key), a realistic start for the sealed_open target.
    for f in "$repo"/index/* "$repo"/snapshots/*; do
        put sealed_open <"$f"
    done

    for id in $(ls "$repo/index"); do
        json=$("${r[@]}" cat index "$id")
        printf '%s' "$json" | put index
        printf '%s' "$json" | pack_headers
        { unpacked_prefix 1 0; printf '%s' "$json"; } | put unpacked
        { unpacked_prefix 2 0; printf '\002'; printf '%s' "$json" | zstd -q -c; } | put unpacked
        # Tree blobs, and data blobs as decompress_blob seeds.
        for tid in $(printf '%s' "$json" | jq -r '.packs[].blobs[] | select(.type == "tree") | .id'); do
            blob=$("${r[@]}" cat blob "$tid")
            printf '%s\n' "$blob" | put tree
            printf '%s\n' "$blob" | jq -r '.nodes[]?.name' | while IFS= read -r name; do
                printf '%s' "$name" | put go_unquote
            done
            printf '%s\n' "$blob" | { grep -oE '"[am]?c?time":"[^"]*"' || true; } | cut -d'"' -f4 | while read -r t; do
                printf '%s' "$t" | put gotime
            done
        done
        for did in $(printf '%s' "$json" | jq -r '[.packs[].blobs[] | select(.type == "data") | .id] | .[:8][]'); do
            tmp=$(mktemp)
            "${r[@]}" cat blob "$did" >"$tmp"
            { unpacked_prefix 0 "$(stat -c %s "$tmp")"; zstd -q -c <"$tmp"; } | put unpacked
            rm -f "$tmp"
        done
    done
    for id in $(ls "$repo/snapshots"); do
        json=$("${r[@]}" cat snapshot "$id")
        printf '%s' "$json" | put snapshot
        printf '%s' "$json" | jq -r '.time' | tr -d '\n' | put gotime
        { unpacked_prefix "$version" 0; printf '%s' "$json"; } | put unpacked
    done
done

# Edge cases the fixtures do not contain.
for t in 0001-01-01T00:00:00Z 9999-12-31T23:59:59.999999999+23:59 \
    2000-02-29T12:00:00,5-00:30 1970-01-01t00:00:00z 2022-01-01T10:00:00.000000000001Z; do
    printf '%s' "$t" | put gotime
done
for q in '\xff\x00' '\u00e9\U0001f600' '\a\b\f\n\r\t\v\\\"' '\377\000'; do
    printf '%s' "$q" | put go_unquote
done
printf '{"nodes":null}' | put tree
# What rustic writes: a key file without created/username/hostname (from
# testdata/rustic), and a snapshot with rustic's own fields (restic's `cat`
# would drop them, so this one is spelled out).
for k in "$HERE"/../testdata/rustic/repos/v2/keys/*; do
    put key_file <"$k"
done
printf '%s' '{"time":"2023-01-02T10:00:00+00:00","program_version":"rustic 0.11.4","tree":"f36542f36ba92eeb26169c80dd035af67bed5b74682893072401ad5ec0496b0a","label":"nightly <db> & co","paths":["/src"],"hostname":"alpha","username":"","uid":0,"gid":0,"tags":["daily"],"delete":"Never","summary":{"files_new":6,"total_dirs_processed":6,"command":"rustic backup","backup_start":"2026-12-07T10:10:39.959164736+00:00","backup_end":"2026-12-07T10:10:39.990612322+00:00","backup_duration":0.031447586},"description":"first line\nsecond line"}' | put snapshot

for d in "$OUT"/*/; do
    echo "$(basename "$d"): $(find "$d" -type f | wc -l) seeds"
done
