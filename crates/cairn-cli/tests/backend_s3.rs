//! `cairn` and restic 0.14 sharing a repository in S3 (moto's server on
//! 127.0.0.1, credentials from the environment): each writes, the other
//! checks every byte and restores. Also: a missing bucket is a missing
//! repository (exit 10), refused credentials and an unreachable endpoint
//! give one clear line, quickly, without the secret.
//!
//! Needs `moto_server` (scripts/install-deps.sh) and restic; without moto
//! the tests fail unless `CAIRN_SKIP_S3=1`.

#[path = "backup_support/mod.rs"]
mod backup_support;
mod common;
#[path = "../../cairn-backend/tests/moto/mod.rs"]
mod moto;

use backup_support::fstree;
use common::tree::{assert_same, Opts};
use common::{restic_bin, Tool};
use moto::{Moto, ACCESS_KEY, SECRET_KEY};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

fn run(tool: Tool, repo: &str, args: &[&str]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let program = match tool {
        Tool::Restic => restic_bin().clone(),
        Tool::Cairn => Tool::Cairn.program(),
    };
    Command::new(&program)
        .arg("-r")
        .arg(repo)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_REPOSITORY_FILE")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

fn ok(tool: Tool, repo: &str, args: &[&str]) -> Output {
    let out = run(tool, repo, args);
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}\n{}",
        tool.name(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Many small files (more than one pack's worth of blobs across them) and
/// a few large ones, so both tools write and read several packs.
fn make_source(root: &Path) -> PathBuf {
    let src = root.join("src");
    fstree::build_random_files(&src.join("small"), 200, 3_000, 11);
    fs::create_dir_all(src.join("big")).unwrap();
    for i in 0..3u64 {
        fstree::write(
            &src.join(format!("big/f{i}")),
            &fstree::prng(5 << 20, 40 + i),
        );
    }
    fstree::write(&src.join("empty"), b"");
    src
}

fn restores_equal(tool: Tool, repo: &str, src: &Path, work: &Path) {
    let target = work.join(format!("restore-{}", tool.name()));
    ok(
        tool,
        repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    let restored = target.join(src.strip_prefix("/").unwrap());
    let opts = Opts {
        atime: false,
        dir_atime: false,
        ..Opts::default()
    };
    assert_same(&format!("{} restore", tool.name()), src, &restored, opts);
}

fn snapshot_count(tool: Tool, repo: &str) -> usize {
    let out = ok(tool, repo, &["snapshots", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().map_or(0, Vec::len)
}

#[test]
fn cairn_writes_restic_reads_over_s3() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let repo = moto.repo("cairn-bucket", "some/prefix");
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());

    ok(Tool::Cairn, &repo, &["init"]);
    ok(Tool::Cairn, &repo, &["backup", src.to_str().unwrap()]);
    ok(Tool::Cairn, &repo, &["check", "--read-data"]);
    restores_equal(Tool::Cairn, &repo, &src, work.path());

    ok(Tool::Restic, &repo, &["check", "--read-data"]);
    assert_eq!(snapshot_count(Tool::Restic, &repo), 1);
    restores_equal(Tool::Restic, &repo, &src, work.path());
}

#[test]
fn restic_writes_cairn_reads_over_s3() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let repo = moto.repo("restic-bucket", "r");
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());

    ok(Tool::Restic, &repo, &["init"]);
    ok(Tool::Restic, &repo, &["backup", src.to_str().unwrap()]);
    ok(Tool::Cairn, &repo, &["check", "--read-data"]);
    restores_equal(Tool::Cairn, &repo, &src, work.path());

    // Cairn adds a snapshot next to restic's; restic still accepts all.
    fs::write(src.join("added.txt"), b"second snapshot\n").unwrap();
    ok(Tool::Cairn, &repo, &["backup", src.to_str().unwrap()]);
    ok(Tool::Restic, &repo, &["check", "--read-data"]);
    assert_eq!(snapshot_count(Tool::Restic, &repo), 2);
    restores_equal(Tool::Restic, &repo, &src, work.path());
}

/// The lines on stderr that are not empty.
fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs cairn expecting failure with one line on stderr, quickly, with
/// no secret in it; returns the exit code and the line.
fn fails_in_one_line(repo: &str, args: &[&str]) -> (Option<i32>, String) {
    let start = Instant::now();
    let out = run(Tool::Cairn, repo, args);
    let took = start.elapsed();
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let lines = error_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(!lines[0].contains(SECRET_KEY), "{}", lines[0]);
    (out.status.code(), lines[0].clone())
}

#[test]
fn a_missing_bucket_is_a_missing_repository() {
    let Some(moto) = Moto::start(false) else {
        return;
    };
    let repo = moto.repo("no-such-bucket", "p");
    let (code, line) = fails_in_one_line(&repo, &["snapshots"]);
    assert_eq!(code, Some(10), "{line}");
    assert!(line.contains(&repo), "should name the backend: {line}");
    // Nothing was created by looking.
    let (code, _) = fails_in_one_line(&repo, &["check"]);
    assert_eq!(code, Some(10));
}

#[test]
fn refused_credentials_and_unreachable_endpoints_fail_clearly() {
    let Some(moto) = Moto::start(true) else {
        return;
    };
    let repo = moto.repo("locked", "p");
    for args in [&["snapshots"][..], &["init"][..]] {
        let (code, line) = fails_in_one_line(&repo, args);
        assert_eq!(code, Some(1), "{line}");
        assert!(line.contains("access denied"), "{line}");
        assert!(line.contains("s3:http://127.0.0.1"), "{line}");
    }
    let port = moto::free_port();
    let repo = format!("s3:http://127.0.0.1:{port}/b/p");
    let (_, line) = fails_in_one_line(&repo, &["snapshots"]);
    assert!(line.to_lowercase().contains("connect"), "{line}");
    let out = run(Tool::Cairn, &repo, &["-o", "s3.bogus=1", "snapshots"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("option s3.bogus is not known"));
}
