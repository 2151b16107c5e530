//! Helpers for the init, key and lock interop tests: run the real restic
//! and the `cairn` binary on a repository in a temporary directory.
//!
//! A missing restic or `cairn` binary fails the tests with a message;
//! they are never skipped.
#![allow(dead_code)]

use cairn::{InitOptions, LocalBackend, Repository};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use tempfile::TempDir;

/// Fast scrypt parameters for test keys (N = 1024, r = 8, p = 1), which
/// restic accepts.
pub fn small_scrypt() -> cairn_crypto::ScryptParams {
    cairn_crypto::ScryptParams {
        n: 1024,
        r: 8,
        p: 1,
    }
}

/// The password of every test repository.
pub const PASSWORD: &str = "test-password";

/// The real restic: `$CAIRN_TEST_RESTIC`, or `restic` on `PATH`.
pub fn restic_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = match std::env::var_os("CAIRN_TEST_RESTIC") {
            Some(p) => PathBuf::from(p),
            None => find_in_path("restic").unwrap_or_else(|| {
                panic!(
                    "these interop tests need the real restic on PATH \
                     (Debian: `apt-get install -y restic`), or set CAIRN_TEST_RESTIC"
                )
            }),
        };
        let out = Command::new(&bin)
            .arg("version")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        assert!(out.status.success(), "{} version failed", bin.display());
        bin
    })
}

/// The `cairn` binary next to this test executable (`target/<profile>/`).
/// `cargo test --workspace` builds it; with `-p cairn` alone, build it
/// first with `cargo build -p cairn-cli`.
pub fn cairn_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join("cairn");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p cairn-cli` (or `cargo test --workspace`) first",
        bin.display()
    );
    bin
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// A command with the repository and password set and every other
/// `RESTIC_*` variable removed.
fn command(program: &Path, repo: &Path, password: &str) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RESTIC_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", password)
        .stdin(Stdio::null());
    cmd
}

/// Runs restic (without cache) on `repo`.
pub fn restic<I, S>(repo: &Path, password: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(restic_bin(), repo, password)
        .arg("--no-cache")
        .args(args)
        .output()
        .expect("run restic")
}

/// Runs `cairn` on `repo`.
pub fn cairn<I, S>(repo: &Path, password: &str, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    command(&cairn_bin(), repo, password)
        .args(args)
        .output()
        .expect("run cairn")
}

/// Starts restic without waiting (stdin piped, output discarded).
pub fn spawn_restic(repo: &Path, password: &str, args: &[&str]) -> std::process::Child {
    command(restic_bin(), repo, password)
        .arg("--no-cache")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start restic")
}

/// Describes an output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Panics unless the command succeeded; returns its stdout.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temporary folder with a Cairn-made repository in `repo/`.
pub fn cairn_repo(version: u32) -> (TempDir, PathBuf, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo");
    let opts = InitOptions {
        version,
        scrypt: Some(small_scrypt()),
        ..InitOptions::default()
    };
    let repo = Repository::init(Arc::new(LocalBackend::new(&path)), PASSWORD, &opts).unwrap();
    (dir, path, repo)
}

/// Opens the repository at `path` with `password`.
pub fn open(path: &Path, password: &str) -> cairn::Result<Repository> {
    Repository::open(Arc::new(LocalBackend::new(path)), password)
}

/// A small folder to back up.
pub fn sample_tree(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), b"hello cairn\n").unwrap();
    std::fs::write(src.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
    src
}

/// Writes a password file and returns its path.
pub fn password_file(dir: &Path, name: &str, password: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{password}\n")).unwrap();
    p
}
