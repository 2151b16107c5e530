//! `cairn copy` against the real restic 0.14: restic-written sources (the
//! v1 and v2 fixtures) copied into destinations made by restic and by
//! Cairn (their own chunker parameters, the other format version), checked
//! with `restic check --read-data` and compared file by file with restic
//! restores of the originals. Repeated copies, restic's own copies, every
//! way of naming the source, bad sources and kills during a copy.
//!
//! A missing restic fails the test (set `CAIRN_TEST_RESTIC` or put restic
//! on `PATH`).

#[macro_use]
mod common;

use common::process::noise;
use common::tree::{assert_same, Opts};
use common::{Fixture, Run, Tool};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

const DST_PASSWORD: &str = "destination secret";

/// A destination repository and its password file.
struct Dst {
    repo: PathBuf,
    password_file: PathBuf,
}

fn run(tool: Tool, mut cmd: Command, args: &[&str]) -> Run {
    let out = cmd.args(args).output().expect("start command");
    Run {
        tool,
        args: args.iter().map(OsString::from).collect(),
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A command on `dst`, with the fixture as the copy source (environment).
fn on_dst(fx: &Fixture, dst: &Dst, tool: Tool) -> Command {
    let mut cmd = fx.command(tool);
    cmd.env("RESTIC_REPOSITORY", &dst.repo)
        .env("RESTIC_PASSWORD_FILE", &dst.password_file)
        .env("RESTIC_FROM_REPOSITORY", &fx.repo)
        .env("RESTIC_FROM_PASSWORD_FILE", &fx.password_file);
    cmd
}

fn dst_run(fx: &Fixture, dst: &Dst, tool: Tool, args: &[&str]) -> Run {
    run(tool, on_dst(fx, dst, tool), args)
}

/// A new repository of `version` made by `maker`, with its own password
/// (and so its own chunker parameters).
fn make_dst(fx: &Fixture, name: &str, maker: Tool, version: &str) -> Dst {
    let dst = Dst {
        repo: fx.dir.path().join(name),
        password_file: fx.dir.path().join(format!("{name}-password")),
    };
    std::fs::write(&dst.password_file, DST_PASSWORD).unwrap();
    let mut cmd = on_dst(fx, &dst, maker);
    cmd.env_remove("RESTIC_FROM_REPOSITORY")
        .env_remove("RESTIC_FROM_PASSWORD_FILE");
    run(maker, cmd, &["init", "--repository-version", version]).ok();
    dst
}

fn lines_with(run: &Run, needle: &str) -> usize {
    run.stdout_str()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

fn dst_snapshots(fx: &Fixture, dst: &Dst) -> Vec<serde_json::Value> {
    let v = dst_run(fx, dst, Tool::Restic, &["snapshots", "--json"])
        .ok()
        .json();
    v.as_array().unwrap().clone()
}

/// Whether any blob in the destination's index is stored compressed.
fn any_compressed(fx: &Fixture, dst: &Dst) -> bool {
    let list = dst_run(fx, dst, Tool::Restic, &["list", "index"]).ok();
    list.stdout_str().lines().any(|id| {
        let index = dst_run(fx, dst, Tool::Restic, &["cat", "index", id]).ok();
        index.stdout_str().contains("uncompressed_length")
    })
}

fn check_read_data(fx: &Fixture, dst: &Dst) {
    let c = dst_run(fx, dst, Tool::Restic, &["check", "--read-data"]).ok();
    assert!(
        c.stdout_str().contains("no errors were found"),
        "{}",
        c.describe()
    );
}

/// restic restores the copy of the newest snapshot from `dst` and the
/// original from the source; the two trees must be identical.
fn assert_copy_restores_like_original(fx: &Fixture, dst: &Dst) {
    let copies = dst_snapshots(fx, dst);
    let newest = copies
        .iter()
        .max_by_key(|s| s["time"].as_str().unwrap().to_string())
        .unwrap();
    let original = newest["original"].as_str().expect("copy has an original");
    let from_copy = fx.scratch("restore-copy");
    let from_original = fx.scratch("restore-original");
    let copy_id = newest["id"].as_str().unwrap();
    let target = from_copy.to_str().unwrap();
    dst_run(
        fx,
        dst,
        Tool::Restic,
        &["restore", copy_id, "--target", target],
    )
    .ok();
    fx.restic([
        "restore",
        original,
        "--target",
        from_original.to_str().unwrap(),
    ])
    .ok();
    assert_same(
        "copied snapshot",
        &from_original,
        &from_copy,
        Opts::default(),
    );
}

#[test]
fn v2_source_into_a_restic_made_v1_repository() {
    let fx = Fixture::new("v2");
    let dst = make_dst(&fx, "dst", Tool::Restic, "1");
    let first = dst_run(&fx, &dst, Tool::Cairn, &["copy"]).ok();
    assert_eq!(
        lines_with(&first, "copy started, this may take a while..."),
        5
    );
    assert_eq!(lines_with(&first, " saved"), 5, "{}", first.describe());
    assert_eq!(lines_with(&first, "packs copied"), 5);
    check_read_data(&fx, &dst);
    assert!(
        !any_compressed(&fx, &dst),
        "a v1 repository got compressed blobs"
    );
    let sources = fx.snapshot_ids();
    let copies = dst_snapshots(&fx, &dst);
    assert_eq!(copies.len(), 5);
    for c in &copies {
        assert!(sources.contains(&c["original"].as_str().unwrap().to_string()));
        assert!(c.get("parent").is_none(), "{c}");
    }
    assert_copy_restores_like_original(&fx, &dst);

    // Nothing left to copy, for Cairn or for restic.
    let again = dst_run(&fx, &dst, Tool::Cairn, &["copy"]).ok();
    assert_eq!(lines_with(&again, "skipping source snapshot"), 5);
    assert_eq!(lines_with(&again, " saved"), 0, "{}", again.describe());
    let by_restic = dst_run(&fx, &dst, Tool::Restic, &["copy"]).ok();
    assert_eq!(
        lines_with(&by_restic, " saved"),
        0,
        "{}",
        by_restic.describe()
    );
    assert_eq!(dst_snapshots(&fx, &dst).len(), 5);
}

#[test]
fn v1_source_into_a_cairn_made_v2_repository_by_flags_and_filter() {
    let fx = Fixture::new("v1");
    let dst = make_dst(&fx, "dst", Tool::Cairn, "2");
    let flags = |extra: &[&str]| {
        let mut cmd = on_dst(&fx, &dst, Tool::Cairn);
        cmd.env_remove("RESTIC_FROM_REPOSITORY")
            .env_remove("RESTIC_FROM_PASSWORD_FILE")
            .arg("copy")
            .arg("--from-repo")
            .arg(&fx.repo)
            .arg("--from-password-file")
            .arg(&fx.password_file);
        run(Tool::Cairn, cmd, extra).ok()
    };
    let daily = flags(&["--tag", "daily"]);
    let dailies = lines_with(&daily, " saved");
    assert!((1..5).contains(&dailies), "{}", daily.describe());
    let rest = flags(&[]);
    assert_eq!(lines_with(&rest, "skipping source snapshot"), dailies);
    assert_eq!(lines_with(&rest, " saved"), 5 - dailies);
    check_read_data(&fx, &dst);
    assert!(
        any_compressed(&fx, &dst),
        "nothing compressed in a v2 repository"
    );
    assert_copy_restores_like_original(&fx, &dst);
}

#[test]
fn restic_copies_and_cairn_copies_are_not_duplicated() {
    let fx = Fixture::new("v2");
    let ids = fx.snapshot_ids();
    let dst = make_dst(&fx, "dst", Tool::Restic, "2");
    // restic copies two snapshots, Cairn all (skipping restic's two), then
    // restic finds nothing left.
    dst_run(&fx, &dst, Tool::Restic, &["copy", &ids[0], &ids[1]]).ok();
    let cairn = dst_run(&fx, &dst, Tool::Cairn, &["copy"]).ok();
    assert_eq!(lines_with(&cairn, "skipping source snapshot"), 2);
    assert_eq!(lines_with(&cairn, " saved"), 3);
    let restic = dst_run(&fx, &dst, Tool::Restic, &["copy"]).ok();
    assert_eq!(lines_with(&restic, "skipping source snapshot"), 5);
    assert_eq!(dst_snapshots(&fx, &dst).len(), 5);
    check_read_data(&fx, &dst);
}

#[test]
fn the_source_from_every_variable_and_the_password_command() {
    let fx = Fixture::new("v2");
    let ids = fx.snapshot_ids();
    let dst = make_dst(&fx, "dst", Tool::Cairn, "1");
    let location_file = fx.dir.path().join("source-location");
    std::fs::write(&location_file, format!("{}\n", fx.repo.display())).unwrap();
    let password = std::fs::read_to_string(&fx.password_file).unwrap();

    let mut cmd = on_dst(&fx, &dst, Tool::Cairn);
    cmd.env_remove("RESTIC_FROM_REPOSITORY")
        .env_remove("RESTIC_FROM_PASSWORD_FILE")
        .env("RESTIC_FROM_REPOSITORY_FILE", &location_file)
        .env("RESTIC_FROM_PASSWORD", password.trim_end());
    let by_env = run(Tool::Cairn, cmd, &["copy", &ids[0][..8]]).ok();
    assert_eq!(lines_with(&by_env, " saved"), 1, "{}", by_env.describe());

    let mut cmd = on_dst(&fx, &dst, Tool::Cairn);
    cmd.env_remove("RESTIC_FROM_PASSWORD_FILE").env(
        "RESTIC_FROM_PASSWORD_COMMAND",
        format!("cat {}", fx.password_file.display()),
    );
    let by_command = run(Tool::Cairn, cmd, &["copy", "latest", &ids[0]]).ok();
    assert_eq!(lines_with(&by_command, " saved"), 1);
    assert_eq!(lines_with(&by_command, "skipping source snapshot"), 1);
    assert_eq!(dst_snapshots(&fx, &dst).len(), 2);
}

#[test]
fn bad_sources_exit_as_restic_documents() {
    let fx = Fixture::new("v2");
    let dst = make_dst(&fx, "dst", Tool::Cairn, "2");
    let wrong = fx.dir.path().join("wrong-password");
    std::fs::write(&wrong, "not it").unwrap();
    let mut cmd = on_dst(&fx, &dst, Tool::Cairn);
    cmd.env("RESTIC_FROM_PASSWORD_FILE", &wrong);
    let r = run(Tool::Cairn, cmd, &["copy"]);
    assert_eq!(r.code, Some(12), "{}", r.describe());
    assert!(r.stderr.contains("wrong password"), "{}", r.describe());
    assert!(!r.stderr.contains("not it"));

    let mut cmd = on_dst(&fx, &dst, Tool::Cairn);
    cmd.env("RESTIC_FROM_REPOSITORY", fx.dir.path().join("nothing-here"));
    let r = run(Tool::Cairn, cmd, &["copy"]);
    assert_eq!(r.code, Some(10), "{}", r.describe());

    let mut cmd = on_dst(&fx, &dst, Tool::Cairn);
    cmd.env_remove("RESTIC_FROM_REPOSITORY");
    let r = run(Tool::Cairn, cmd, &["copy"]);
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert!(r
        .stderr
        .contains("Please specify a source repository location"));
    assert!(dst_snapshots(&fx, &dst).is_empty());
}

/// A `cairn copy` SIGKILLed at several moments leaves a destination that
/// `restic check` accepts; the next copy completes it.
#[test]
fn kills_during_copy_leave_a_destination_restic_accepts() {
    let fx = Fixture::new("v2");
    let dst = make_dst(&fx, "dst", Tool::Restic, "2");
    // A larger source, so that a copy takes a moment.
    let data = fx.scratch("big");
    for i in 0..6u64 {
        let bytes = noise(4 << 20, i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        std::fs::write(data.join(format!("f{i}")), bytes).unwrap();
    }
    fx.restic(["backup", "-q", data.to_str().unwrap()]).ok();
    let total = fx.snapshot_count();
    let mut interrupted = 0;
    for delay_ms in [30u64, 150, 400, 900] {
        let mut child = on_dst(&fx, &dst, Tool::Cairn)
            .args(["copy", "-q"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        if child.try_wait().unwrap().is_none() {
            interrupted += 1;
        }
        let _ = child.kill();
        child.wait().unwrap();
        dst_run(&fx, &dst, Tool::Restic, &["unlock"]).ok();
        let check = dst_run(&fx, &dst, Tool::Restic, &["check"]);
        assert_eq!(
            check.code,
            Some(0),
            "after a kill at {delay_ms} ms:\n{}",
            check.describe()
        );
    }
    assert!(
        interrupted >= 2,
        "only {interrupted} kills hit a running copy"
    );
    dst_run(&fx, &dst, Tool::Restic, &["unlock"]).ok();
    dst_run(&fx, &dst, Tool::Cairn, &["copy", "-q"]).ok();
    assert_eq!(dst_snapshots(&fx, &dst).len(), total);
    check_read_data(&fx, &dst);
}

impl FixtureExt for Fixture {
    fn snapshot_count(&self) -> usize {
        let v = self.restic(["snapshots", "--json"]).ok().json();
        v.as_array().unwrap().len()
    }
}

trait FixtureExt {
    fn snapshot_count(&self) -> usize;
}
