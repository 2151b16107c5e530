#!/usr/bin/env python3
"""A typical resticpy session, run against the program given as argv[1].

Used by crates/cairn-cli/tests/restic_wrappers.rs with `cairn` as the
binary. Every step goes through resticpy's public API (it adds --json to
every call and parses what it gets back), so a flag Cairn rejects, a JSON
shape resticpy cannot read or a non-zero exit code fails the step. Prints
one line per step and "ALL STEPS PASSED" at the end; any failure raises.

Where restic 0.14 (argv[3]) has the same message, the answer is compared
with what it prints for the same repository.

Usage: resticpy_flow.py BINARY WORKDIR REFERENCE_RESTIC
"""
import json
import os
import subprocess
import sys

import restic

binary, work, reference_restic = sys.argv[1], sys.argv[2], sys.argv[3]


def reference(*args):
    """What the real restic answers, through the same repository."""
    out = subprocess.run([reference_restic, "--json", "--no-cache", "-r", restic.repository,
                          "--password-file", restic.password_file, *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def expect(what, cond, got):
    if not cond:
        raise SystemExit(f"step failed: {what}: got {got!r}")
    print(f"ok: {what}")


restic.binary_path = binary
version = restic.version()
expect("version names the restic release it follows",
       version["restic_version"] == "0.19.1", version)

src = os.path.join(work, "src")
os.makedirs(src)
data = write(os.path.join(src, "site.txt"), "first contents")
other = write(os.path.join(src, "dump.sql"), "create table t (x int);")
pw1 = write(os.path.join(work, "pw1"), "first secret")
pw2 = write(os.path.join(work, "pw2"), "second secret")
pw3 = write(os.path.join(work, "pw3"), "third secret")

restic.repository = os.path.join(work, "repo")
restic.password_file = pw1
repo_id = restic.init()
expect("init returns the repository id", len(repo_id) == 64, repo_id)

first = restic.backup(paths=[src], tags=["web"], host="www1")
expect("first backup counts new files", first["files_new"] == 2, first)
expect("first backup has a snapshot id", len(first["snapshot_id"]) == 64, first)

found = restic.find("site.txt")
expect("find matches the file once",
       len(found) == 1 and len(found[0]["matches"]) == 1, found)
expect("find of a missing name is empty", restic.find("nothing-here.txt") == [],
       "non-empty")

groups = restic.snapshots(group_by=["host"])
expect("snapshots --group-by host gives one group with one snapshot",
       len(groups) == 1 and len(groups[0]["snapshots"]) == 1
       and groups[0]["group_key"]["hostname"] == "www1", groups)

write(data, "second, longer contents")
second = restic.backup(paths=[src], tags=["web"], host="www1")
expect("second backup sees one changed file",
       second["files_changed"] == 1 and second["files_new"] == 0, second)
groups = restic.snapshots(group_by=["host", "tags"])
expect("two snapshots in the host,tags group",
       len(groups) == 1 and len(groups[0]["snapshots"]) == 2, groups)
theirs = reference("snapshots", "--group-by", "host,tags")
expect("the groups are restic 0.14's",
       [g["group_key"] for g in groups] == [g["group_key"] for g in theirs]
       and [[s["id"] for s in g["snapshots"]] for g in groups]
       == [[s["id"] for s in g["snapshots"]] for g in theirs], (groups, theirs))
expect("snapshots filtered by tag", len(restic.snapshots(tags=["web"])) == 2,
       "wrong count")

target = os.path.join(work, "restore")
restic.restore(snapshot_id="latest", target_dir=target)
with open(os.path.join(target, src.lstrip("/"), "site.txt"), encoding="utf-8") as f:
    expect("restore wrote the newest contents", f.read() == "second, longer contents",
           "different contents")

for mode in ["raw-data", "restore-size", "files-by-contents", "blobs-per-file"]:
    ours = restic.stats(mode=mode, host="www1")
    theirs = reference("stats", "--mode", mode, "--host", "www1")
    # restic 0.19 leaves zero counts out (omitempty) where 0.14 prints 0.
    expect(f"stats --mode {mode} agrees with restic 0.14",
           all(ours.get(k, 0) == v for k, v in theirs.items()), (ours, theirs))

expect("check --read-data passes", restic.check(read_data=True) is not None, None)

restic.rewrite(exclude=[other], forget=True)
after = restic.snapshots()
expect("rewrite replaced both snapshots",
       len(after) == 2 and all("original" in s for s in after), after)
expect("the excluded file is gone", restic.find("dump.sql") == [], "still found")

keys = restic.key.list()
expect("one key", len(keys) == 1 and keys[0]["current"], keys)
restic.key.add(new_password_file=pw2, host="ops", user="backup")
expect("two keys after key add", len(restic.key.list()) == 2, "wrong count")
restic.password_file = pw2
restic.key.passwd(new_password_file=pw3)
restic.password_file = pw1
unused = [k for k in restic.key.list() if not k["current"]]
restic.key.remove(unused[0]["id"])
expect("one key after key remove", len(restic.key.list()) == 1, "wrong count")

config = restic.cat.config()
expect("cat config has the chunker polynomial", "chunker_polynomial" in config, config)
expect("cat masterkey has the keys", "encrypt" in restic.cat.masterkey(), "no key")
expect("no locks left", restic.list.locks() == [], "locks remain")
restic.unlock()

forget = restic.forget(keep_last=1, prune=True)
expect("forget keeps one snapshot per group",
       len(forget) == 1 and len(forget[0]["keep"]) == 1
       and len(forget[0]["remove"]) == 1, forget)

primary = restic.repository
restic.repository = os.path.join(work, "copy")
restic.password_file = pw2
restic.init()
restic.copy(from_repo=primary, from_password_file=pw1)
expect("copy brought the remaining snapshot", len(restic.snapshots()) == 1, "wrong count")
print("ALL STEPS PASSED")
