//! `check [ID...] --host/--tag/--path`: as in restic 0.19, only the chosen
//! snapshots' trees are walked and only the packs holding their blobs are
//! read with `--read-data`; damage elsewhere is not reported, damage
//! inside is. An ID that cannot be found fails the check as restic's does.

#[macro_use]
mod common;

use common::Fixture;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A copy of the v2 fixture plus two backups of their own (hosts `good`
/// and `bad`, distinct contents), whose pack files written by the `bad`
/// backup are then corrupted in place (same size, one byte flipped).
fn fixture_with_damage_outside_good() -> Fixture {
    let fx = Fixture::new("v2");
    for (host, content) in [("good", "good data\n"), ("bad", "bad data, other\n")] {
        let src = fx.scratch(host);
        std::fs::write(src.join("file"), content.repeat(100)).unwrap();
        let before: BTreeSet<PathBuf> = fx.repo_files("data").into_iter().collect();
        fx.cairn([
            "backup",
            "-q",
            "--host",
            host,
            "--tag",
            host,
            src.to_str().unwrap(),
        ])
        .ok();
        if host == "bad" {
            let new: Vec<PathBuf> = fx
                .repo_files("data")
                .into_iter()
                .filter(|p| !before.contains(p))
                .collect();
            assert!(!new.is_empty());
            for pack in new {
                let mut bytes = std::fs::read(&pack).unwrap();
                bytes[0] ^= 0xff;
                let mut perms = std::fs::metadata(&pack).unwrap().permissions();
                #[allow(clippy::permissions_set_readonly_false)]
                perms.set_readonly(false);
                std::fs::set_permissions(&pack, perms).unwrap();
                std::fs::write(&pack, bytes).unwrap();
            }
        }
    }
    fx
}

#[test]
fn damage_outside_the_chosen_snapshots_is_not_reported() {
    let fx = fixture_with_damage_outside_good();
    for args in [
        &["check", "--host", "good"][..],
        &["check", "--read-data", "--host", "good"],
        &["check", "--read-data", "--tag", "good"],
        &["check", "--read-data-subset", "1/1", "--host", "good"],
        &["check", "latest", "--host", "good", "--read-data"],
        &["check", "--host", "alpha", "--host", "beta", "--read-data"],
    ] {
        let r = fx.cairn(args);
        assert_eq!(r.code, Some(0), "{}", r.describe());
        assert!(
            r.stdout_str().contains("no errors were found"),
            "{}",
            r.describe()
        );
    }
    let r = fx.cairn(["check", "--read-data", "--host", "good"]).ok();
    assert!(
        r.stdout_str().contains("read all filtered data"),
        "{}",
        r.describe()
    );
}

#[test]
fn damage_inside_the_chosen_snapshots_is_reported() {
    let fx = fixture_with_damage_outside_good();
    for args in [
        &["check"][..],
        &["check", "--host", "bad"],
        &["check", "--tag", "bad"],
        &["check", "--read-data", "--host", "bad"],
        &["check", "latest"],
    ] {
        let r = fx.cairn(args);
        assert_eq!(r.code, Some(1), "{}", r.describe());
        assert!(
            r.stderr.contains("repository contains errors"),
            "{}",
            r.describe()
        );
    }
    // The same snapshot by ID.
    let bad = fx
        .cairn(["snapshots", "--json", "--host", "bad"])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = fx.cairn(["check", &bad[..8]]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    let good = fx
        .cairn(["snapshots", "--json", "--host", "good"])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fx.cairn(["check", "--read-data", &good]).ok();
}

#[test]
fn unknown_snapshot_fails_the_check() {
    let fx = Fixture::new("v1");
    let ids = fx.snapshot_ids();
    for (args, message) in [
        (
            vec!["check", "abcdef"],
            "error: no matching ID found for prefix \"abcdef\"",
        ),
        (
            vec!["check", &ids[0], "--host", "alpha"],
            "error: explicit snapshot ids are given",
        ),
        (
            vec!["check", "latest", "--host", "nowhere"],
            "error: no snapshot matched given filter (Paths:[] Tags:[] Hosts:[nowhere])",
        ),
    ] {
        let r = fx.cairn(&args);
        assert_eq!(r.code, Some(1), "{}", r.describe());
        assert!(r.stderr.contains(message), "{}", r.describe());
    }
    // A filter that matches nothing checks no tree and finds nothing wrong.
    fx.cairn(["check", "--host", "nowhere"]).ok();
    let r = fx.cairn(["--json", "check", "abcdef"]);
    assert_eq!(r.code, Some(1));
    let summary = r.json_lines().pop().unwrap();
    assert_eq!(summary["num_errors"], 2, "{}", r.describe());
}
