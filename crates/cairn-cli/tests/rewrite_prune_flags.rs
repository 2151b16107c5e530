//! restic 0.19's `rewrite --include*`/`--snapshot-summary` and `prune
//! --unsafe-recover-no-free-space` (cmd/restic/cmd_rewrite.go,
//! cmd_prune.go, internal/repository/prune.go), on copies of the
//! restic-written fixtures; restic 0.14 checks the results.

#[macro_use]
mod common;
mod repair_support;

use common::Fixture;
use repair_support::{ls_paths, replacement, restic_check_read_data, snapshots_by_id};
use serde_json::Value;
use std::collections::BTreeSet;

/// A snapshot's stored JSON (restic 0.14 drops the summary it does not know).
fn stored(f: &Fixture, id: &Value) -> Value {
    f.cairn(["cat", "snapshot", id.as_str().unwrap()])
        .ok()
        .json()
}

/// Paths (`restic ls --json`) of a snapshot with their node types.
fn nodes(f: &Fixture, id: &str) -> Vec<(String, String, u64)> {
    f.restic(["ls", "--json", id]).ok().json_lines()[1..]
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_owned(),
                n["type"].as_str().unwrap().to_owned(),
                n["size"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn rewrite_include_keeps_matches_and_their_parents() {
    let f = Fixture::new("v2");
    let ids = f.snapshot_ids();
    let before: Vec<_> = ids.iter().map(|id| nodes(&f, id)).collect();
    let out = f
        .cairn([
            "rewrite",
            "-vv",
            "--include",
            "*.txt",
            "--iinclude",
            "*.BIN",
        ])
        .ok()
        .stdout_str();
    assert!(out.contains("including \""), "{out}");
    let after = snapshots_by_id(&f);
    for (id, old) in ids.iter().zip(&before) {
        let kept: Vec<&(String, String, u64)> = old
            .iter()
            .filter(|(p, t, _)| {
                let lower = p.to_lowercase();
                t != "dir" && (p.ends_with(".txt") || lower.ends_with(".bin"))
            })
            .collect();
        if kept.is_empty() {
            assert!(
                after.values().all(|s| s["original"].as_str() != Some(id)),
                "{id}: nothing matches, the snapshot stays as it is"
            );
            continue;
        }
        let mut want: BTreeSet<String> = BTreeSet::new();
        for (p, _, _) in &kept {
            let mut cur = p.as_str();
            want.insert(cur.to_owned());
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                if !cur.is_empty() {
                    want.insert(cur.to_owned());
                }
            }
        }
        let new = replacement(&after, id);
        let got: BTreeSet<String> = nodes(&f, new["id"].as_str().unwrap())
            .into_iter()
            .map(|n| n.0)
            .collect();
        assert_eq!(got, want, "{id}");
        // The summary counts what is left (restic 0.19).
        let files = kept.len() as u64;
        let bytes: u64 = kept.iter().map(|k| k.2).sum();
        let new = stored(&f, &new["id"]);
        assert_eq!(new["summary"]["total_files_processed"], files, "{new}");
        assert_eq!(new["summary"]["total_bytes_processed"], bytes, "{new}");
    }
    restic_check_read_data(&f);
}

#[test]
fn rewrite_include_refusals_and_no_match() {
    let f = Fixture::new("v1");
    let run = f.cairn(["rewrite", "--include", "*.txt", "--exclude", "*.bin"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stderr
            .contains("exclude and include patterns are mutually exclusive"),
        "{}",
        run.stderr
    );
    let run = f.cairn(["rewrite"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("Nothing to do: no excludes/includes provided and no new metadata provided"),
        "{}",
        run.stderr
    );
    let out = f
        .cairn(["rewrite", "--include", "/does/not/exist"])
        .ok()
        .stdout_str();
    assert!(out.contains("\nno snapshots were modified"), "{out}");
    assert_eq!(snapshots_by_id(&f).len(), 5);
}

#[test]
fn rewrite_snapshot_summary_adds_counts_once() {
    // restic 0.14 wrote these snapshots: none has a summary.
    let f = Fixture::new("v1");
    let ids = f.snapshot_ids();
    let before: Vec<_> = ids.iter().map(|id| nodes(&f, id)).collect();
    let old_snaps = snapshots_by_id(&f);
    let out = f
        .cairn(["rewrite", "--snapshot-summary", "--forget"])
        .ok()
        .stdout_str();
    assert!(out.contains("\nmodified 5 snapshots"), "{out}");
    let after = snapshots_by_id(&f);
    assert_eq!(after.len(), 5);
    for (id, old) in ids.iter().zip(&before) {
        let new = replacement(&after, id);
        let new_id = new["id"].as_str().unwrap();
        assert_eq!(new["tree"], old_snaps[id]["tree"], "the tree is kept");
        let files: Vec<_> = old.iter().filter(|n| n.1 == "file").collect();
        let full = stored(&f, &new["id"]);
        let s = &full["summary"];
        assert_eq!(s["total_files_processed"], files.len() as u64, "{new_id}");
        assert_eq!(
            s["total_bytes_processed"],
            files.iter().map(|n| n.2).sum::<u64>(),
            "{new_id}"
        );
        assert_eq!(s["files_new"], 0);
        assert!(!new["tags"]
            .as_array()
            .map(|t| t.iter().any(|x| x == "rewrite"))
            .unwrap_or(false));
    }
    // The summaries now match: a second run changes nothing.
    let out = f.cairn(["rewrite", "-s"]).ok().stdout_str();
    assert!(out.contains("\nno snapshots were modified"), "{out}");
    restic_check_read_data(&f);
}

fn repo_id(f: &Fixture) -> String {
    f.restic(["cat", "config"]).ok().json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn prune_unsafe_recovery_needs_the_repository_id() {
    let f = Fixture::new("v2");
    let index = f.repo_files("index");
    let run = f.cairn(["prune", "--unsafe-recover-no-free-space", "wrong"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let id = repo_id(&f);
    assert!(
        run.stderr.contains(&format!(
            "must pass id '{id}' to --unsafe-recover-no-free-space"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(f.repo_files("index"), index, "nothing changed");
    // A prefix is not enough.
    let run = f.cairn(["prune", "--unsafe-recover-no-free-space", &id[..8]]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
}

#[test]
fn prune_unsafe_recovery_replaces_the_index_without_repacking() {
    let f = Fixture::new("v2");
    let ids = f.snapshot_ids();
    f.restic(["forget", &ids[0], &ids[2]]).ok();
    let old_index = f.repo_files("index");
    let packs_before = f.repo_files("data").len();
    let id = repo_id(&f);
    let out = f
        .cairn(["prune", "--unsafe-recover-no-free-space", &id])
        .ok()
        .stdout_str();
    assert!(
        out.contains("to repack:             0 blobs / 0 B"),
        "{out}"
    );
    let deleting = out.find("deleting index files").expect(&out);
    let removing = out.find("removing ").unwrap_or(usize::MAX);
    assert!(deleting < removing, "index files go first: {out}");
    assert!(out.ends_with("done\n"), "{out}");
    let new_index = f.repo_files("index");
    assert!(!new_index.is_empty());
    for old in &old_index {
        assert!(!new_index.contains(old), "{} was replaced", old.display());
    }
    assert!(f.repo_files("data").len() <= packs_before);
    restic_check_read_data(&f);
    // Everything left is still there.
    for id in &ids[3..] {
        assert!(!ls_paths(&f, id).is_empty());
    }
}
