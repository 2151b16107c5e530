//! `cairn repair snapshots` and `cairn repair packs` on damaged copies of
//! the restic-written fixtures: after the repair, restic 0.14's
//! `check --read-data` passes and the snapshots list and restore. Also the
//! refusals: `prune` on an index that disagrees with the packs, unreadable
//! snapshot files, missing pack IDs.

#[macro_use]
mod common;
mod repair_support;

use common::{Fixture, Tool};
use repair_support::{
    ls_paths, replacement, restic_check_fails, restic_check_read_data, restic_restore,
    snapshots_by_id, tags,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Every pack the index names: (ID, blob type, blob IDs), the largest
/// first.
fn packs(f: &Fixture) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    let list = f.restic(["list", "index"]).ok().stdout_str();
    for index in list.lines() {
        let v: Value = f.restic(["cat", "index", index]).ok().json();
        for p in v["packs"].as_array().unwrap() {
            let blobs = p["blobs"].as_array().unwrap();
            out.push((
                p["id"].as_str().unwrap().to_string(),
                blobs[0]["type"].as_str().unwrap().to_string(),
                blobs
                    .iter()
                    .map(|b| b["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>(),
            ));
        }
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.2.len()));
    out
}

fn pack_path(f: &Fixture, id: &str) -> PathBuf {
    f.repo.join("data").join(&id[..2]).join(id)
}

fn blob_count(f: &Fixture) -> usize {
    f.restic(["list", "blobs"])
        .ok()
        .stdout_str()
        .lines()
        .count()
}

fn snapshot_files(f: &Fixture) -> BTreeSet<PathBuf> {
    f.repo_files("snapshots").into_iter().collect()
}

#[test]
fn repair_snapshots_after_lost_packs_makes_check_pass() {
    let f = Fixture::new("v2");
    let all = packs(&f);
    let before = snapshots_by_id(&f);
    let ids = f.snapshot_ids();
    let oldest_root = before[&ids[0]]["tree"].as_str().unwrap();
    let data = all.iter().find(|p| p.1 == "data").unwrap().0.clone();
    // The tree pack of the oldest snapshot: its root is lost, and later
    // snapshots lose the subdirectories they share with it.
    let tree = all
        .iter()
        .find(|p| p.2.iter().any(|b| b == oldest_root))
        .unwrap()
        .0
        .clone();
    std::fs::remove_file(pack_path(&f, &data)).unwrap();
    std::fs::remove_file(pack_path(&f, &tree)).unwrap();

    // prune refuses while the index names missing packs.
    let run = f.cairn(["prune"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("run `repair index`"), "{}", run.stderr);

    f.cairn(["repair", "index"]).ok();
    restic_check_fails(&f, "not found");

    let snaps = snapshot_files(&f);
    let out = f
        .cairn(["repair", "snapshots", "--dry-run"])
        .ok()
        .stdout_str();
    assert!(out.contains("would save new snapshot"), "{out}");
    assert_eq!(snapshot_files(&f), snaps, "dry run wrote nothing");

    // One snapshot first, keeping the original: tagged `repaired`.
    let first = ids[1].clone();
    let first_out = f.cairn(["repair", "snapshots", &first]).ok().stdout_str();
    assert!(first_out.contains("\nmodified 1 snapshots"), "{first_out}");
    let mid = snapshots_by_id(&f);
    let repaired = replacement(&mid, &first).clone();
    let mut want = tags(&before[&first]);
    want.push("repaired".into());
    assert_eq!(tags(&repaired), want);

    // Then everything, forgetting the damaged ones; the repaired snapshot
    // is already fine and left alone.
    let out = f
        .cairn(["repair", "snapshots", "--forget"])
        .ok()
        .stdout_str();
    assert!(out.contains("removed old snapshot"), "{out}");
    assert!(
        out.contains("  dir \"/\": not readable\nremoved empty snapshot"),
        "{out}"
    );
    let all_out = format!("{first_out}{out}");
    assert!(
        all_out.contains(": replaced with empty directory"),
        "{all_out}"
    );
    let after = snapshots_by_id(&f);
    assert!(after.contains_key(repaired["id"].as_str().unwrap()));
    for id in before.keys() {
        assert!(!after.contains_key(id), "damaged {id} was replaced");
    }
    restic_check_read_data(&f);

    // A file that lost content is shorter now, and everything restores.
    let line = first_out
        .lines()
        .find(|l| l.ends_with(": removed missing content"))
        .unwrap();
    let path: String = serde_json::from_str(
        line.trim_start()
            .strip_prefix("file ")
            .unwrap()
            .strip_suffix(": removed missing content")
            .unwrap(),
    )
    .unwrap();
    let old_size = file_size(&f, &first, &path, &before);
    let new_id = repaired["id"].as_str().unwrap();
    let new_size = file_size(&f, new_id, &path, &after);
    assert!(new_size < old_size, "{path}: {new_size} < {old_size}");
    assert!(!ls_paths(&f, new_id).is_empty());
    let target = f.scratch("restore");
    restic_restore(&f, new_id, &target);
}

/// A file's size in restic's `ls --json` (the snapshot may be gone: then
/// the size is read from a fresh copy of the fixture).
fn file_size(
    f: &Fixture,
    id: &str,
    path: &str,
    snaps: &std::collections::BTreeMap<String, Value>,
) -> u64 {
    let fresh;
    let f = if snapshots_by_id(f).contains_key(id) {
        f
    } else {
        assert!(snaps.contains_key(id));
        fresh = Fixture::new(&f.name);
        &fresh
    };
    let run = f.restic(["ls", "--json", id, path]).ok();
    run.json_lines()
        .iter()
        .find(|n| n["path"] == path)
        .and_then(|n| n["size"].as_u64())
        .unwrap_or(0)
}

#[test]
fn repair_packs_salvages_intact_blobs() {
    let f = Fixture::new("v1");
    let (pack, _, blobs) = packs(&f).into_iter().find(|p| p.1 == "data").unwrap();
    assert!(blobs.len() > 3, "a pack with several blobs");
    let blobs_before = blob_count(&f);
    let path = pack_path(&f, &pack);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();

    let cwd = f.scratch("cwd");
    let out = f
        .command(Tool::Cairn)
        .current_dir(&cwd)
        .args(["repair", "packs", &pack])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("saving backup copies of pack files to current folder"),
        "{stdout}"
    );
    assert!(stdout.contains("removing salvaged pack files"), "{stdout}");
    let lost = stderr.matches("failed to load blob").count();
    assert!(lost >= 1, "{stderr}");
    assert!(
        stderr.contains("Use `restic repair snapshots --forget`"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(cwd.join(format!("pack-{pack}"))).unwrap(),
        bytes
    );
    assert!(!path.exists(), "the damaged pack is removed");
    assert_eq!(
        blob_count(&f),
        blobs_before - lost,
        "only the damaged blobs are lost"
    );

    restic_check_fails(&f, "not found in index");
    f.cairn(["repair", "snapshots", "--forget"]).ok();
    restic_check_read_data(&f);
}

#[test]
fn refusals_name_the_problem() {
    let f = Fixture::new("v2");
    let run = f.cairn(["repair", "packs"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("no ids specified"), "{}", run.stderr);
    let run = f.cairn(["repair", "packs", "abc"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());

    // A damaged snapshot file stops a repair of all snapshots; named with
    // --forget, it is removed.
    let id = f.snapshot_ids()[2].clone();
    let file = f.repo.join("snapshots").join(&id);
    std::fs::write(&file, b"garbage").unwrap();
    let run = f.cairn(["repair", "snapshots"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("is unreadable"), "{}", run.stderr);
    assert!(file.exists());
    let run = f.cairn(["repair", "snapshots", &id]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let out = f
        .cairn(["repair", "snapshots", "--forget", &id])
        .ok()
        .stdout_str();
    assert!(
        out.contains(&format!("removed unreadable snapshot {id}")),
        "{out}"
    );
    assert!(!file.exists());
    restic_check_read_data(&f);
}
