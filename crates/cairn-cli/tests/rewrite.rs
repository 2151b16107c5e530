//! `cairn rewrite` on copies of the restic-written fixtures, checked with
//! restic 0.14: the new snapshots list what the old ones listed minus the
//! excluded paths, restore like the old ones did without them, carry
//! `original` and restic's tag, and `restic check --read-data` passes.
//! Unchanged snapshots, dry runs and refusals change nothing.

#[macro_use]
mod common;
mod repair_support;

use common::{tree, Fixture};
use repair_support::{
    ls_paths, replacement, replacements, restic_check_read_data, restic_restore, snapshots_by_id,
    tags,
};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

const FUTURE: &str = "/tmp/cairn-fixture/src/times/future";

fn snapshot_files(f: &Fixture) -> BTreeSet<String> {
    f.repo_files("snapshots")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn rewrite_keeps_originals_and_gives_every_rewrite_a_summary() {
    let f = Fixture::new("v1");
    let before = snapshots_by_id(&f);
    let listings: Vec<(String, Vec<Vec<u8>>)> = before
        .keys()
        .map(|id| (id.clone(), ls_paths(&f, id)))
        .collect();
    let weekly = f.snapshot_with_tag("weekly");
    let out = f.cairn(["rewrite", "--exclude", FUTURE]).ok().stdout_str();
    // Snapshot 3 (files and names) holds no times/future, but restic
    // 0.19 recounts the summary of every filtered snapshot, and restic
    // 0.14 wrote none: all five are rewritten.
    assert!(out.contains("\nmodified 5 snapshots"), "{out}");
    assert_eq!(out.matches("saved new snapshot").count(), 5, "{out}");
    let line = format!(
        "\nsnapshot {} of [/tmp/cairn-fixture/src/files /tmp/cairn-fixture/src/names] at 2022-01-03 10:00:00 +0000 UTC by root@beta\nsaved new snapshot ",
        &weekly[..8]
    );
    assert!(out.contains(&line), "{out}");
    let after = snapshots_by_id(&f);
    assert_eq!(after.len(), 10);
    for (old_id, old_paths) in &listings {
        assert!(after.contains_key(old_id), "{old_id} was kept");
        let new = replacements(&after, old_id);
        assert_eq!(new.len(), 1, "one rewrite of {old_id}");
        let new = new[0];
        let old = &before[old_id];
        // restic 0.14 does not know summaries: read the stored JSON.
        let stored = f
            .cairn(["cat", "snapshot", new["id"].as_str().unwrap()])
            .ok()
            .json();
        assert!(stored["summary"]["total_files_processed"]
            .as_u64()
            .is_some());
        let holds_future = old_paths.iter().any(|p| p == FUTURE.as_bytes());
        if !holds_future {
            assert_eq!(new["tree"], old["tree"], "{old_id}: same tree");
            continue;
        }
        let mut want_tags = tags(old);
        want_tags.push("rewrite".into());
        assert_eq!(tags(new), want_tags);
        for key in ["time", "hostname", "paths", "username"] {
            assert_eq!(new[key], old[key], "{key} of the rewrite of {old_id}");
        }
        assert_ne!(new["tree"], old["tree"]);
        let want: Vec<Vec<u8>> = old_paths
            .iter()
            .filter(|p| p.as_slice() != FUTURE.as_bytes())
            .cloned()
            .collect();
        assert_eq!(ls_paths(&f, new["id"].as_str().unwrap()), want);
    }
    restic_check_read_data(&f);
}

#[test]
fn rewrite_forget_with_pattern_files_restores_without_excluded_paths() {
    let f = Fixture::new("v2");
    let before = snapshots_by_id(&f);
    let alpha: Vec<String> = before
        .iter()
        .filter(|(_, s)| s["hostname"] == "alpha")
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(alpha.len(), 2);
    let latest_alpha = alpha
        .iter()
        .max_by_key(|id| before[*id]["time"].as_str().unwrap().to_string())
        .unwrap()
        .clone();
    let old_restore = f.scratch("old");
    restic_restore(&f, &latest_alpha, &old_restore);
    let old_paths = ls_paths(&f, &latest_alpha);

    let exclude_file = f.dir.path().join("excludes");
    std::fs::write(
        &exclude_file,
        format!("# restic pattern file\n{FUTURE}\n\n"),
    )
    .unwrap();
    let iexclude_file = f.dir.path().join("iexcludes");
    std::fs::write(&iexclude_file, "*/HARDLINKS\n").unwrap();
    let out = f
        .cairn([
            "rewrite",
            "--forget",
            "--host",
            "alpha",
            "--exclude",
            "*.bin",
            "--exclude-file",
            exclude_file.to_str().unwrap(),
            "--iexclude-file",
            iexclude_file.to_str().unwrap(),
        ])
        .ok()
        .stdout_str();
    assert!(
        out.starts_with("create exclusive lock for repository\n"),
        "{out}"
    );
    assert!(out.contains("removed old snapshot"), "{out}");
    assert!(out.contains("\nmodified 2 snapshots"), "{out}");

    let after = snapshots_by_id(&f);
    assert_eq!(after.len(), 5);
    for id in &alpha {
        assert!(!after.contains_key(id), "old {id} was forgotten");
    }
    for (id, s) in &before {
        if !alpha.contains(id) {
            assert_eq!(&after[id], s, "other hosts' snapshots are untouched");
        }
    }
    let new = replacement(&after, &latest_alpha);
    assert_eq!(
        tags(new),
        tags(&before[&latest_alpha]),
        "no rewrite tag with --forget"
    );
    let new_id = new["id"].as_str().unwrap();

    let excluded = |p: &[u8]| {
        let s = String::from_utf8_lossy(p);
        s.ends_with(".bin")
            || s.starts_with(FUTURE)
            || s.starts_with("/tmp/cairn-fixture/src/hardlinks")
    };
    let want: Vec<Vec<u8>> = old_paths.iter().filter(|p| !excluded(p)).cloned().collect();
    assert!(
        want.len() + 5 < old_paths.len(),
        "the patterns match something"
    );
    assert_eq!(ls_paths(&f, new_id), want);

    let new_restore = f.scratch("new");
    restic_restore(&f, new_id, &new_restore);
    let src = old_restore.join("tmp/cairn-fixture/src");
    std::fs::remove_dir_all(src.join("hardlinks")).unwrap();
    std::fs::remove_file(src.join("times/future")).unwrap();
    for e in std::fs::read_dir(src.join("files")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "bin") {
            std::fs::remove_file(p).unwrap();
        }
    }
    // Removing entries touched the parents' mtimes in the old restore.
    let opts = tree::Opts {
        mtime: false,
        atime: false,
        dir_atime: false,
        ..tree::Opts::default()
    };
    tree::assert_same("rewritten snapshot", &old_restore, &new_restore, opts);
    restic_check_read_data(&f);
}

#[test]
fn metadata_dry_run_and_refusals() {
    let f = Fixture::new("v2");
    let ids = f.snapshot_ids();
    let snaps = snapshot_files(&f);
    let packs = f.repo_files("data");

    let run = f.cairn(["rewrite"]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("Nothing to do"), "{}", run.stderr);
    let run = f.cairn(["rewrite", "--new-time", "yesterday-ish", &ids[0]]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    let out = f
        .cairn([
            "rewrite",
            "--dry-run",
            "--exclude",
            "*.bin",
            "--new-host",
            "x",
        ])
        .ok()
        .stdout_str();
    assert!(out.contains("would save new snapshot"), "{out}");
    assert!(out.contains("would set hostname to x"), "{out}");
    assert!(out.contains("\nwould modify 5 snapshots"), "{out}");
    assert_eq!(snapshot_files(&f), snaps, "dry run wrote no snapshot");
    assert_eq!(f.repo_files("data"), packs, "dry run wrote no pack");
    assert!(f.repo_files("locks").is_empty());

    let out = f
        .cairn([
            "rewrite",
            "--new-host",
            "newhost",
            "--new-time",
            "2023-04-05 06:07:08",
            &ids[1][..8],
        ])
        .ok()
        .stdout_str();
    assert!(
        out.contains("setting time to 2023-04-05 06:07:08 +0000 UTC"),
        "{out}"
    );
    assert!(out.contains("setting host to newhost"), "{out}");
    let after = snapshots_by_id(&f);
    assert_eq!(after.len(), 6);
    let new = replacement(&after, &ids[1]);
    assert_eq!(new["hostname"], "newhost");
    assert_eq!(new["time"], "2023-04-05T06:07:08Z");
    assert_eq!(new["tree"], after[&ids[1]]["tree"], "the tree is the same");
    assert!(tags(new).contains(&"rewrite".to_string()));
    restic_check_read_data(&f);
}

#[test]
fn rewrite_takes_a_shared_lock_and_forget_an_exclusive_one() {
    let f = Fixture::new("v2");
    let ids = f.snapshot_ids();
    // restic holds a shared lock while it waits for standard input.
    let mut backup = f.command(common::Tool::Restic);
    backup
        .args(["backup", "--stdin", "--stdin-filename", "held"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = backup.spawn().unwrap();
    let start = Instant::now();
    while f.repo_files("locks").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "restic took no lock"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = f.cairn(["rewrite", "--forget", "--new-host", "h", &ids[0]]);
    assert_eq!(run.code, Some(11), "{}", run.describe());
    assert!(
        run.stderr.contains("unable to create lock"),
        "{}",
        run.stderr
    );
    f.cairn(["rewrite", "--new-host", "h", &ids[0]]).ok();
    child.stdin.take().unwrap().write_all(b"data").unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(snapshots_by_id(&f).len(), 7);
}
