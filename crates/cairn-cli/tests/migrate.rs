//! `cairn migrate` against the real restic 0.14: a version 1 repository
//! restic wrote (the v1 fixture) is upgraded by Cairn; restic then checks
//! it, backs up compressed data into it and reads its config as version 2,
//! and Cairn reads the old and the new snapshots. Listing and refusing
//! print what restic prints.
//!
//! A missing restic fails the test (set `CAIRN_TEST_RESTIC` or put restic
//! on `PATH`).

#[macro_use]
mod common;

use common::Fixture;
use serde_json::Value;

fn config(fx: &Fixture) -> Value {
    fx.restic(["cat", "config"]).ok().json()
}

fn any_index_compressed(fx: &Fixture) -> bool {
    let list = fx.restic(["list", "index"]).ok();
    list.stdout_str().lines().any(|id| {
        fx.restic(["cat", "index", id])
            .ok()
            .stdout_str()
            .contains("uncompressed_length")
    })
}

#[test]
fn upgrade_repo_v2_on_a_restic_v1_repository() {
    let fx = Fixture::new("v1");
    let before = config(&fx);
    assert_eq!(before["version"], 1);
    let oldest = fx.snapshot_ids()[0].clone();

    // The listing is restic's, byte for byte.
    let listed = fx.cairn(["migrate"]).ok();
    assert_eq!(
        listed.stdout_str(),
        "available migrations:\n  upgrade_repo_v2\tupgrade a repository to version 2\n"
    );
    assert_eq!(listed.stdout, fx.restic(["migrate"]).ok().stdout);

    let applied = fx.cairn(["migrate", "upgrade_repo_v2"]).ok();
    let out = applied.stdout_str();
    for line in [
        "checking repository integrity...",
        "no errors were found",
        "applying migration upgrade_repo_v2...",
        "migration upgrade_repo_v2: success",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} missing:\n{out}");
    }
    let after = config(&fx);
    assert_eq!(after["version"], 2);
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["chunker_polynomial"], before["chunker_polynomial"]);
    let check = fx.restic(["check", "--read-data"]).ok();
    assert!(check.stdout_str().contains("no errors were found"));

    // restic now writes compressed data into it.
    assert!(
        !any_index_compressed(&fx),
        "the v1 fixture had compressed blobs"
    );
    let data = fx.scratch("new-data");
    let text: String = (0..20_000)
        .map(|i| format!("line {i} of a compressible file\n"))
        .collect();
    std::fs::write(data.join("text"), &text).unwrap();
    fx.restic([
        "backup",
        "-q",
        "--tag",
        "after-upgrade",
        data.to_str().unwrap(),
    ])
    .ok();
    assert!(
        any_index_compressed(&fx),
        "restic did not compress after the upgrade"
    );
    fx.restic(["check"]).ok();

    // Cairn reads the old snapshots and the new one.
    let snaps = fx.cairn(["snapshots", "--json"]).ok().json();
    assert_eq!(snaps.as_array().unwrap().len(), 6);
    let listing = fx.cairn(["ls", &oldest]).ok();
    assert_eq!(listing.stdout, fx.restic(["ls", &oldest]).ok().stdout);
    let target = fx.scratch("restored");
    fx.cairn([
        "restore",
        "latest",
        "--tag",
        "after-upgrade",
        "--target",
        target.to_str().unwrap(),
    ])
    .ok();
    let restored =
        std::fs::read_to_string(target.join(data.strip_prefix("/").unwrap()).join("text")).unwrap();
    assert_eq!(restored, text);
    fx.cairn(["check", "--read-data"]).ok();
}

#[test]
fn a_version_2_repository_has_nothing_to_migrate() {
    let fx = Fixture::new("v2");
    let cairn = fx.cairn(["migrate"]).ok();
    let restic = fx.restic(["migrate"]).ok();
    assert_eq!(
        cairn.stdout_str(),
        "available migrations:\nno migrations found"
    );
    assert_eq!(cairn.stdout, restic.stdout);

    let cairn = fx.cairn(["migrate", "upgrade_repo_v2"]).ok();
    let restic = fx.restic(["migrate", "upgrade_repo_v2"]).ok();
    assert!(
        cairn.stderr.contains("migration upgrade_repo_v2 cannot be applied: check failed\nIf you want to apply this migration anyway, re-run with option --force"),
        "{}",
        cairn.describe()
    );
    assert_eq!(cairn.stderr, restic.stderr);
    assert_eq!(cairn.stdout, restic.stdout);

    // --force runs it anyway and leaves the same repository.
    let before = config(&fx);
    let forced = fx.cairn(["migrate", "--force", "upgrade_repo_v2"]).ok();
    assert!(forced
        .stderr
        .contains("check for migration upgrade_repo_v2 failed, continuing anyway"));
    assert!(forced
        .stdout_str()
        .contains("migration upgrade_repo_v2: success"));
    assert_eq!(config(&fx), before);
    fx.restic(["check"]).ok();
}
