//! Helpers for the `cairn backup` acceptance tests: a temporary repository
//! (made by Cairn or by restic) in a temporary directory, commands of both
//! tools against it, `restic check`, and restore-and-compare.
//!
//! Test files declare `mod common;` (the shared interop helpers) before
//! `#[path = "backup_support/mod.rs"] mod backup_support;`.
#![allow(dead_code)]

pub mod fstree;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::common::tree::{diff, Kind, Opts, Tree};
use crate::common::{restic_bin, show_path, Run, Tool};

pub const PASSWORD: &str = "cairn-backup-test";

/// A temporary directory holding `repo/`, the password file, caches and
/// whatever the test puts there (source trees, restore targets).
pub struct Repo {
    pub dir: TempDir,
    pub repo: PathBuf,
    pub password_file: PathBuf,
}

impl Repo {
    /// A temporary directory with a password file but no repository yet.
    pub fn empty(name: &str) -> Repo {
        // A missing restic must be the first failure seen, never a skip.
        restic_bin();
        let dir = tempfile::Builder::new()
            .prefix(&format!("cairn-bk-{name}-"))
            .tempdir()
            .unwrap();
        let password_file = dir.path().join("password");
        fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
        Repo {
            repo: dir.path().join("repo"),
            dir,
            password_file,
        }
    }

    /// A repository made by `tool init --repository-version <version>`.
    pub fn init(name: &str, tool: Tool, version: u32) -> Repo {
        let r = Repo::empty(name);
        r.run(tool, ["init", "--repository-version", &version.to_string()])
            .ok();
        assert!(
            r.repo.join("config").is_file(),
            "{} init made no config",
            tool.name()
        );
        r
    }

    /// A directory directly below `/` for source trees whose ancestors
    /// must not change between backups: restic and Cairn record the
    /// metadata of every directory above a backed-up path, and `/tmp`
    /// changes whenever anything (another test) creates a file there.
    pub fn quiet_dir(&self) -> TempDir {
        tempfile::Builder::new()
            .prefix("cairn-bk-quiet-")
            .tempdir_in("/")
            .expect("tests run as root and may create a directory in /")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// A fresh empty directory in the temp dir.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        assert!(!p.exists(), "scratch dir {} used twice", p.display());
        fs::create_dir_all(&p).unwrap();
        p
    }

    /// Base command: repository, password, per-tool cache, UTC, C locale.
    pub fn command(&self, tool: Tool) -> Command {
        self.command_via(tool, &[])
    }

    /// `command`, but run through `wrapper` (e.g. `setpriv --reuid=…`).
    pub fn command_via(&self, tool: Tool, wrapper: &[&str]) -> Command {
        let mut c = match wrapper.split_first() {
            None => Command::new(tool.program()),
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(tool.program());
                c
            }
        };
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RESTIC_") {
                c.env_remove(&k);
            }
        }
        c.env("RESTIC_REPOSITORY", &self.repo)
            .env("RESTIC_PASSWORD_FILE", &self.password_file)
            .env(
                "RESTIC_CACHE_DIR",
                self.path(&format!("cache-{}", tool.name())),
            )
            .env("TZ", "UTC")
            .env("LC_ALL", "C")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null());
        c
    }

    pub fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, tool: Tool, args: I) -> Run {
        let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self
            .command(tool)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tool.name()));
        to_run(tool, args, out)
    }

    pub fn restic<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.run(Tool::Restic, args)
    }

    pub fn cairn<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Run {
        self.run(Tool::Cairn, args)
    }

    /// `tool backup --json <args>`, must succeed; returns the summary line.
    pub fn backup<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, tool: Tool, args: I) -> Value {
        let mut all: Vec<OsString> = vec!["backup".into(), "--json".into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        summary(&self.run(tool, all).ok())
    }

    /// `restic check [--read-data]` must pass and report no errors.
    pub fn check(&self, read_data: bool) {
        let mut args = vec!["check"];
        if read_data {
            args.push("--read-data");
        }
        let r = self.restic(&args);
        assert_eq!(
            r.code,
            Some(0),
            "restic check rejects the repository written by cairn:\n{}",
            r.describe()
        );
        let out = r.stdout_str();
        assert!(out.contains("no errors were found"), "{}", r.describe());
    }

    /// All snapshots (`restic snapshots --json`), oldest first.
    pub fn snapshots(&self) -> Vec<Value> {
        let v = self.restic(["snapshots", "--json"]).ok().json();
        let mut v = v.as_array().expect("snapshots --json is an array").clone();
        v.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
        v
    }

    /// The snapshot whose ID starts with `id` (restic 0.14's `--json`
    /// summary prints the short ID, Cairn the full one).
    pub fn snapshot(&self, id: &str) -> Value {
        self.snapshots()
            .into_iter()
            .find(|s| s["id"].as_str().unwrap().starts_with(id))
            .unwrap_or_else(|| panic!("no snapshot {id}"))
    }

    /// Paths (as restic's `ls --json` prints them) in snapshot `id`.
    pub fn ls_paths(&self, id: &str) -> BTreeSet<String> {
        self.restic(["ls", "--json", id])
            .ok()
            .json_lines()
            .iter()
            .filter(|v| v["struct_type"] == "node")
            .map(|v| v["path"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Whether snapshot `id` (full ID) was written by Cairn (its
    /// `program_version`; restic 0.14 writes none, and its `cat` drops the
    /// field, so this asks Cairn).
    pub fn written_by_cairn(&self, id: &str) -> bool {
        let sn = self.cairn(["cat", "snapshot", id]).ok().json();
        sn["program_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("cairn"))
    }

    /// Every file below `sub` of the repository.
    pub fn repo_files(&self, sub: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        collect_files(&self.repo.join(sub), &mut out);
        out.sort();
        out
    }

    /// Restores snapshot `id` with `tool` and compares the result with
    /// `expected` (a directory whose state is what was backed up from
    /// `source`, often `source` itself).  Sockets are not expected (neither
    /// tool saves them), atimes are not compared (not recorded without
    /// `--with-atime`).  restic 0.14 stores and restores a symlink target
    /// that is not UTF-8 lossily (each bad byte becomes U+FFFD): that single
    /// known restic limitation is applied to the expectation when restic
    /// restores or restic wrote the snapshot.
    pub fn assert_restores(&self, tool: Tool, id: &str, source: &Path, expected: &Path) {
        let target = tempfile::Builder::new()
            .prefix(&format!("restore-{}-", tool.name()))
            .tempdir_in(self.dir.path())
            .unwrap();
        self.run(
            tool,
            [
                OsStr::new("restore"),
                OsStr::new(id),
                OsStr::new("--target"),
                target.path().as_os_str(),
            ],
        )
        .ok();
        let restored = target.path().join(source.strip_prefix("/").unwrap());
        let mut want = Tree::scan(expected);
        want.entries.retain(|_, e| e.kind != Kind::Socket);
        if tool == Tool::Restic || !self.written_by_cairn(id) {
            for e in want.entries.values_mut() {
                if let Some(t) = &e.link_target {
                    if std::str::from_utf8(t).is_err() {
                        let lossy = String::from_utf8_lossy(t).into_owned().into_bytes();
                        e.size = Some(lossy.len() as u64);
                        e.link_target = Some(lossy);
                    }
                }
            }
        }
        assert!(
            restored.is_dir(),
            "{} restore of {id} made no {}",
            tool.name(),
            restored.display()
        );
        let got = Tree::scan(&restored);
        let opts = Opts {
            atime: false,
            root_meta: true,
            ..Opts::default()
        };
        let d = diff(&want, &got, opts);
        assert!(
            d.is_empty(),
            "{} restore of snapshot {id} differs from {} in {} place(s):\n  {}",
            tool.name(),
            show_path(expected),
            d.len(),
            d.iter().take(100).cloned().collect::<Vec<_>>().join("\n  ")
        );
    }
}

pub fn to_run(tool: Tool, args: Vec<OsString>, out: std::process::Output) -> Run {
    Run {
        tool,
        args,
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `summary` line of a `backup --json` run (every line must parse).
pub fn summary(r: &Run) -> Value {
    let lines = r.json_lines();
    let s: Vec<&Value> = lines
        .iter()
        .filter(|v| v["message_type"] == "summary")
        .collect();
    assert_eq!(s.len(), 1, "expected one summary line:\n{}", r.describe());
    s[0].clone()
}

/// Integer field of a JSON summary.
pub fn num(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

pub fn snapshot_id(summary: &Value) -> String {
    summary["snapshot_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no snapshot_id in {summary}"))
        .to_owned()
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            collect_files(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

/// Raw bytes of a path, for building argument lists.
pub fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}
