//! `forget` and `tag` against restic 0.14 on copies of the fixture
//! repositories: the same snapshots remain, the output matches, restic's
//! `check` accepts the result, and Cairn's refusals and dry runs change
//! nothing.

#[macro_use]
mod common;

use common::{assert_same_text, without_zone_footer, Fixture, Run};
use serde_json::Value;
use std::collections::BTreeSet;

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Snapshot file names in the repository.
fn snapshot_files(f: &Fixture) -> BTreeSet<String> {
    file_names(f, "snapshots")
}

/// The names of the files in the repository's folder `sub`.
fn file_names(f: &Fixture, sub: &str) -> BTreeSet<String> {
    f.repo_files(sub)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Output with restic's elapsed-time stamp of the deletion progress
/// normalised (it may tick over on a slow machine).
fn without_clock(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| match l.strip_prefix('[') {
            Some(rest) if l.contains("files deleted") => {
                format!("[T{}", &rest[rest.find(']').unwrap()..])
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn restic_check(f: &Fixture) {
    let check = f.restic(["check"]).ok();
    assert!(
        check.stdout_str().contains("no errors were found"),
        "{}",
        check.describe()
    );
}

/// Runs the same forget with restic and Cairn on two copies of `v2`.
fn forget_both(policy: &[String]) -> (Fixture, Run, Fixture, Run) {
    let fr = Fixture::new("v2");
    let fc = Fixture::new("v2");
    let mut a = args(&["forget"]);
    a.extend(policy.iter().cloned());
    let r = fr.restic(&a).ok();
    let c = fc.cairn(&a).ok();
    (fr, r, fc, c)
}

#[test]
fn policies_remove_what_restic_removes() {
    let cases: Vec<Vec<String>> = vec![
        args(&["--keep-last", "1"]),
        args(&["--keep-daily", "2", "--keep-tag", "first"]),
        args(&["--keep-within", "2d", "--group-by", ""]),
        args(&["--keep-last", "2", "--group-by", "host"]),
        args(&[
            "--keep-weekly",
            "1",
            "--keep-within-daily",
            "1d",
            "--group-by",
            "tags",
        ]),
        args(&["--keep-last", "1", "--host", "alpha"]),
        args(&["--keep-yearly", "1", "--group-by", "", "--tag", "daily"]),
    ];
    for policy in &cases {
        let (fr, r, fc, c) = forget_both(policy);
        assert_eq!(
            snapshot_files(&fr),
            snapshot_files(&fc),
            "remaining snapshots after forget {policy:?}"
        );
        // One group: the text output is comparable byte for byte (restic
        // prints several groups in random order).
        if policy.windows(2).any(|w| w == ["--group-by", ""]) {
            assert_same_text(
                &format!("forget {policy:?}"),
                without_clock(&r.stdout).as_bytes(),
                without_zone_footer(&without_clock(&c.stdout)).as_bytes(),
            );
        }
        restic_check(&fc);
    }
}

#[test]
fn dry_run_json_matches_restic_and_removes_nothing() {
    let f = Fixture::new("v2");
    let before = snapshot_files(&f);
    for policy in [
        args(&[
            "--keep-daily",
            "2",
            "--keep-tag",
            "second",
            "--group-by",
            "",
        ]),
        args(&["--keep-last", "1", "--keep-within", "3d", "--group-by", ""]),
    ] {
        let mut a = args(&["forget", "--dry-run", "--json"]);
        a.extend(policy.iter().cloned());
        let r = f.restic(&a).ok();
        let c = f.cairn(&a).ok();
        assert_same_text(&format!("forget {policy:?}"), &r.stdout, &c.stdout);
        let mut t = args(&["forget", "--dry-run"]);
        t.extend(policy.iter().cloned());
        let r = f.restic(&t).ok();
        let c = f.cairn(&t).ok();
        assert_same_text(
            &format!("forget {policy:?}"),
            &r.stdout,
            without_zone_footer(&c.stdout_str()).as_bytes(),
        );
    }
    // Several groups: the same groups, in whatever order.
    let a = args(&["forget", "--dry-run", "--json", "--keep-last", "1"]);
    let groups = |run: Run| -> BTreeSet<String> {
        let v: Value = run.ok().json();
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| g.to_string())
            .collect()
    };
    assert_eq!(groups(f.restic(&a)), groups(f.cairn(&a)));
    assert_eq!(snapshot_files(&f), before);
}

#[test]
fn forget_by_id_and_prune_flag() {
    let (fr, _, fc, c) = forget_both(&args(&["9904fa8d", "latest"]));
    assert_eq!(snapshot_files(&fr), snapshot_files(&fc));
    assert_eq!(snapshot_files(&fc).len(), 3);
    assert!(
        c.stdout_str().contains("2 / 2 files deleted"),
        "{}",
        c.describe()
    );
    // --prune: forget, then prune like restic, leaving a repository that
    // restic checks clean and that holds the same snapshots as restic's.
    let policy = args(&["--keep-last", "1", "--group-by", "", "--prune"]);
    let (fr, _, fc, c) = forget_both(&policy);
    assert!(
        c.stdout_str()
            .contains("4 snapshots have been removed, running prune"),
        "{}",
        c.describe()
    );
    assert_eq!(snapshot_files(&fr), snapshot_files(&fc));
    assert_eq!(snapshot_files(&fc).len(), 1);
    assert!(fc.repo_files("data").len() < Fixture::new("v2").repo_files("data").len());
    restic_check(&fc);
}

#[test]
fn a_dry_run_prune_counts_the_forgotten_snapshots_as_gone_as_restic_does() {
    let policy = args(&[
        "--keep-last",
        "1",
        "--group-by",
        "",
        "--prune",
        "--dry-run",
        "--max-unused",
        "0",
    ]);
    let before = Fixture::new("v2");
    let (fr, r, fc, c) = forget_both(&policy);
    assert!(
        c.stdout_str()
            .contains("4 snapshots would be removed, running prune dry run"),
        "{}",
        c.describe()
    );
    // The statistics are those of the repository without the 4 snapshots.
    let stats = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| {
                ["to delete:", "total prune:", "remaining:", "to repack:"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map(str::to_string)
            .collect()
    };
    let theirs = stats(&r.stdout_str());
    assert!(
        theirs
            .iter()
            .any(|l| l.starts_with("total prune:") && !l.contains(" 0 blobs")),
        "{}",
        r.describe()
    );
    assert_eq!(stats(&c.stdout_str()), theirs, "{}", c.describe());
    for f in [&fr, &fc] {
        assert_eq!(snapshot_files(f), snapshot_files(&before));
        assert_eq!(file_names(f, "data"), file_names(&before, "data"));
    }
}

#[test]
fn refusals_change_nothing() {
    let f = Fixture::new("v2");
    let before = snapshot_files(&f);
    for (a, msg) in [
        (
            args(&["forget"]),
            "no policy was specified, no snapshots will be removed",
        ),
        (
            args(&["forget", "--unsafe-allow-remove-all"]),
            "--unsafe-allow-remove-all is not allowed unless a snapshot filter option is specified",
        ),
        (
            args(&["forget", "--keep-tag", "nonexistent"]),
            "refusing to delete last snapshot of snapshot group",
        ),
        (
            args(&["forget", "--keep-daily", "-2"]),
            "negative values other than -1 are not allowed",
        ),
        (
            args(&["forget", "--keep-last", "1", "--no-lock"]),
            "--no-lock is only applicable in combination with --dry-run",
        ),
        (
            args(&["forget", "--keep-last", "1", "--group-by", "color"]),
            "unknown grouping option: \"color\"",
        ),
    ] {
        let run = f.cairn(&a);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains(msg), "{}", run.describe());
        assert_eq!(snapshot_files(&f), before, "{a:?} changed the repository");
    }
    f.cairn(["forget", "--dry-run", "--keep-last", "1", "--group-by", ""])
        .ok();
    assert_eq!(snapshot_files(&f), before);
    // With a filter, an empty policy may remove everything it selects.
    f.cairn(["forget", "--unsafe-allow-remove-all", "--host", "gamma"])
        .ok();
    assert_eq!(snapshot_files(&f).len(), 4);
    restic_check(&f);
}

/// Tags and `original` of every snapshot, oldest first, as restic lists them.
fn tag_state(f: &Fixture) -> Vec<(String, Value, Value)> {
    let v = f.restic(["snapshots", "--json"]).ok().json();
    let mut list: Vec<(String, Value, Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["time"].as_str().unwrap().to_string(),
                s.get("tags").cloned().unwrap_or(Value::Null),
                s.get("original").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    list
}

#[test]
fn tag_changes_match_restic() {
    let fr = Fixture::new("v2");
    let fc = Fixture::new("v2");
    let steps = [
        args(&[
            "tag", "--add", "new,x", "--remove", "daily", "9904fa8d", "4ee77073",
        ]),
        args(&["tag", "--set", "k,l", "--tag", "weekly"]),
        args(&["tag", "--remove", "k", "--add", "m", "--host", "beta"]),
        args(&["tag", "--set", ""]),
        args(&["tag", "--add", "q"]),
        args(&["tag", "--add", "q"]),
    ];
    for step in &steps {
        let r = fr.restic(step).ok();
        let c = fc.cairn(step).ok();
        // restic 0.19 words the count "modified N snapshots" (0.14: "modified
        // tags on N snapshots").
        let cairn = c.stdout_str().replace("modified ", "modified tags on ");
        assert_same_text(&format!("{step:?}"), &r.stdout, cairn.as_bytes());
        assert_eq!(tag_state(&fr), tag_state(&fc), "after {step:?}");
    }
    // Every snapshot was rewritten and remembers its first ID.
    let originals: BTreeSet<String> = tag_state(&fc)
        .iter()
        .map(|(_, _, o)| o.as_str().unwrap().to_string())
        .collect();
    let fresh = Fixture::new("v2");
    assert_eq!(originals, snapshot_files(&fresh));
    restic_check(&fc);
    for (a, msg) in [
        (args(&["tag"]), "nothing to do!"),
        (
            args(&["tag", "--set", "a", "--add", "b"]),
            "--set and --add/--remove cannot be given at the same time",
        ),
    ] {
        let run = fc.cairn(&a);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains(msg), "{}", run.describe());
    }
}
