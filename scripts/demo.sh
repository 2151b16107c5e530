#!/usr/bin/env bash
# The main job, end to end on this machine: back up a directory into a new
# local repository, list its snapshots and files, and restore it, all with
# cairn; then Debian's restic checks the repository cairn wrote.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
cargo build --release -p cairn-cli
cairn=${CARGO_TARGET_DIR:-$PWD/target}/release/cairn
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export RESTIC_REPOSITORY=$work/repo RESTIC_PASSWORD=demo-password
src=${1:-$PWD/crates}
echo "== backing up $src into $RESTIC_REPOSITORY"
"$cairn" init
"$cairn" backup "$src"
echo "== cairn snapshots"
"$cairn" snapshots
echo "== cairn ls latest (first 10 entries)"
# head closes the pipe early: cairn then ends quietly as restic does
# (killed by SIGPIPE, so the pipeline's status is 141), leaving no lock.
"$cairn" ls latest | head -n 11 || true
echo "== cairn restore latest"
"$cairn" restore latest --target "$work/restored"
diff -r "$src" "$work/restored$src" && echo "restored tree is identical to $src"
if [ -n "$(ls -A "$RESTIC_REPOSITORY/locks")" ]; then
  echo "stale lock left in $RESTIC_REPOSITORY/locks" >&2
  exit 1
fi
echo "== restic check --read-data"
restic check --read-data
