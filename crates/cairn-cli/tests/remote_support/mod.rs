//! Helpers for the tests of `cairn` and restic sharing a repository on a
//! remote backend (REST, SFTP, rclone): run either tool on a repository
//! string with global flags (`-o`, `--cacert`), a source tree to back up, tree comparison,
//! and the two interop round trips every backend must pass.
//!
//! Test files declare `#[path = "remote_support/mod.rs"] mod remote_support;`.
#![allow(dead_code)]

pub mod fault_proxy;
/// Shared with the `common` helpers: a free port, `cairn serve`, waiting
/// for a port.
#[path = "../common/process.rs"]
pub mod process;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repositories' password.
pub const PASSWORD: &str = "correct horse battery";

pub fn restic_bin() -> PathBuf {
    std::env::var_os("CAIRN_TEST_RESTIC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("restic"))
}

pub fn run(program: &Path, repo: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let cache = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(program);
    cmd.arg("-r")
        .arg(repo)
        .arg("--cache-dir")
        .arg(cache.path())
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_REPOSITORY_FILE")
        .env_remove("RESTIC_PASSWORD_FILE")
        .env_remove("RESTIC_PASSWORD_COMMAND")
        .env_remove("RESTIC_REST_USERNAME")
        .env_remove("RESTIC_REST_PASSWORD")
        .env("RESTIC_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()))
}

pub fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn cairn() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cairn"))
}

/// A small tree with a large file (several packs' worth of chunks would
/// take long; a few MiB spans many blobs), small files and folders.
pub fn make_source(root: &Path) -> PathBuf {
    let src = root.join("src");
    fs::create_dir_all(src.join("sub/deeper")).unwrap();
    let mut big = Vec::with_capacity(6 << 20);
    let mut x: u64 = 0x9e3779b97f4a7c15;
    while big.len() < (6 << 20) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(src.join("big.bin"), &big).unwrap();
    fs::write(src.join("hello.txt"), b"hello over REST\n").unwrap();
    fs::write(src.join("sub/empty"), b"").unwrap();
    for i in 0..20 {
        fs::write(src.join(format!("sub/deeper/f{i}")), format!("file {i}\n")).unwrap();
    }
    src
}

/// Asserts that `restored` holds the same folders and file contents.
pub fn same_tree(src: &Path, restored: &Path) {
    let mut n = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(src.join(&rel)).unwrap() {
            let entry = entry.unwrap();
            let rel = rel.join(entry.file_name());
            let (a, b) = (src.join(&rel), restored.join(&rel));
            if entry.file_type().unwrap().is_dir() {
                assert!(b.is_dir(), "{} missing", b.display());
                stack.push(rel);
            } else {
                assert_eq!(
                    fs::read(&a).unwrap(),
                    fs::read(&b).unwrap(),
                    "{}",
                    rel.display()
                );
                n += 1;
            }
        }
    }
    assert_eq!(n, 23);
}

pub fn restored_path(target: &Path, src: &Path) -> PathBuf {
    target.join(src.strip_prefix("/").unwrap())
}

/// The lines on stderr that are not empty.
pub fn error_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs `program` on `repo` with the `global` flags and `args`; it must succeed.
pub fn step(program: &Path, repo: &str, global: &[String], args: &[&str]) -> Output {
    let what = format!("{} {}", program.display(), args.join(" "));
    ok(run(program, repo, &with_global(global, args), &[]), &what)
}

/// `program` restores the latest snapshot: it must equal `src`.
fn restore_equals_source(program: &Path, repo: &str, global: &[String], src: &Path) {
    let target = tempfile::tempdir().unwrap();
    let t = target.path().to_str().unwrap();
    step(program, repo, global, &["restore", "latest", "--target", t]);
    same_tree(src, &restored_path(target.path(), src));
}

/// Cairn `init`, `backup`, `check --read-data` and `restore` through
/// `repo` (with the `global` flags), then restic `check --read-data` and
/// `restore` on the same repository: both restores equal the source.
pub fn cairn_writes_restic_reads(repo: &str, global: &[String]) {
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());
    let (cairn, restic) = (cairn(), restic_bin());
    step(&cairn, repo, global, &["init"]);
    step(&cairn, repo, global, &["backup", src.to_str().unwrap()]);
    step(&cairn, repo, global, &["check", "--read-data"]);
    restore_equals_source(&cairn, repo, global, &src);
    step(&restic, repo, global, &["check", "--read-data"]);
    restore_equals_source(&restic, repo, global, &src);
}

/// restic `init` and `backup` through `repo`, then Cairn `snapshots`,
/// `check --read-data` and `restore`: the restore equals the source.
pub fn restic_writes_cairn_reads(repo: &str, global: &[String]) {
    let work = tempfile::tempdir().unwrap();
    let src = make_source(work.path());
    let (cairn, restic) = (cairn(), restic_bin());
    step(&restic, repo, global, &["init"]);
    step(&restic, repo, global, &["backup", src.to_str().unwrap()]);
    let out = step(&cairn, repo, global, &["snapshots", "--json"]);
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snaps.as_array().map(Vec::len), Some(1), "{snaps}");
    step(&cairn, repo, global, &["check", "--read-data"]);
    restore_equals_source(&cairn, repo, global, &src);
}

/// The global flags (`-o sftp.command=...`, `--cacert FILE`), then `args`.
pub fn with_global<'a>(global: &'a [String], args: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = global.iter().map(String::as_str).collect();
    out.extend_from_slice(args);
    out
}

/// `-o option` as global flags.
pub fn option(option: impl Into<String>) -> Vec<String> {
    vec!["-o".into(), option.into()]
}
