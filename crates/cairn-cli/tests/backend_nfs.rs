//! `cairn -r nfs://127.0.0.1:PORT/export/repo` against a loopback NFSv3
//! server (`nfs3_server` serving a temp folder, see
//! `cairn-backend/tests/nfs_server`), and restic 0.14, which cannot speak
//! NFS, on the same repository through the served folder on disk: each
//! writes, the other checks and restores. Also a backup killed mid-write
//! leaves no partial file, and a server that is not there, an export that
//! is not exported and a missing repository each give one line and the
//! right exit code, quickly.

#[path = "backup_support/mod.rs"]
mod backup_support;
mod common;
#[path = "../../cairn-backend/tests/nfs_server/mod.rs"]
mod nfs_server;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use backup_support::fstree::build_random_files;
use backup_support::{snapshot_id, Repo};
use common::tree::{assert_same, Opts};
use common::{Fixture, Tool};
use nfs_server::{free_port, NfsServer};

/// A repository folder that Cairn reaches over NFS and restic on disk.
struct Shared {
    r: Repo,
    server: NfsServer,
    disk: PathBuf,
}

impl Shared {
    /// Serves the temp folder of `r` (the repository is its `repo/`).
    fn new(r: Repo) -> Shared {
        let server = NfsServer::start(r.dir.path());
        let disk = r.repo.clone();
        Shared { r, server, disk }
    }

    /// The repository as `nfs://…/export/repo`: for Cairn only.
    fn nfs(&mut self) -> &Repo {
        self.r.repo = PathBuf::from(self.server.url("repo"));
        &self.r
    }

    /// The repository as the served folder: for restic (and Cairn).
    fn disk(&mut self) -> &Repo {
        self.r.repo = self.disk.clone();
        &self.r
    }
}

#[test]
fn cairn_over_nfs_and_restic_on_the_served_folder_share_a_repository() {
    let mut s = Shared::new(Repo::empty("nfs"));
    let src = s.disk().scratch("src");
    build_random_files(&src, 8, 600_000, 1);
    fs::write(src.join("small.txt"), b"over NFS\n").unwrap();

    // Cairn writes over NFS and reads its own repository back.
    s.nfs().cairn(["init"]).ok();
    assert!(s.disk.join("data/00").is_dir() && s.disk.join("data/ff").is_dir());
    let id = snapshot_id(&s.nfs().backup(Tool::Cairn, [&src]));
    s.nfs().cairn(["check", "--read-data"]).ok();
    s.nfs().assert_restores(Tool::Cairn, &id, &src, &src);

    // restic checks and restores the folder on disk.
    s.disk().check(true);
    s.disk().assert_restores(Tool::Restic, &id, &src, &src);

    // restic writes into the folder; Cairn reads it over NFS.
    build_random_files(&src.join("more"), 4, 300_000, 2);
    let id2 = snapshot_id(&s.disk().backup(Tool::Restic, [&src]));
    s.nfs().cairn(["check", "--read-data"]).ok();
    s.nfs().assert_restores(Tool::Cairn, &id2, &src, &src);
    let listed = s.nfs().cairn(["snapshots", "--json"]).ok().json();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
}

#[test]
fn a_repository_restic_made_restores_the_same_over_nfs() {
    let f = Fixture::new("v1");
    let server = NfsServer::start(f.dir.path());
    let url = server.url("repo");
    let cairn = |args: &[&str]| {
        let out = f
            .command(Tool::Cairn)
            .env("RESTIC_REPOSITORY", &url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cairn {args:?} over NFS failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cairn(&["check", "--read-data"]);
    let by_restic = f.scratch("restic");
    let by_cairn = f.scratch("cairn");
    f.restic(["restore", "latest", "--target", by_restic.to_str().unwrap()])
        .ok();
    cairn(&["restore", "latest", "--target", by_cairn.to_str().unwrap()]);
    let opts = Opts {
        atime: false,
        dir_atime: false,
        ..Opts::default()
    };
    assert_same("restore over NFS", &by_restic, &by_cairn, opts);
}

fn sha256_hex(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The files below `dir`: (path, is hidden).
fn files_below(dir: &Path) -> Vec<(PathBuf, bool)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            let hidden = e.file_name().to_string_lossy().starts_with('.');
            out.push((p, hidden));
        }
    }
    out
}

#[test]
fn a_backup_killed_mid_write_leaves_no_partial_file() {
    let mut s = Shared::new(Repo::empty("nfs-kill"));
    let src = s.disk().scratch("src");
    build_random_files(&src, 12, 3_000_000, 3);
    s.nfs().cairn(["init"]).ok();
    let data = s.disk.join("data");
    let mut child = s
        .nfs()
        .command(Tool::Cairn)
        .args(["backup".as_ref(), src.as_os_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while a pack is half uploaded, once one pack is complete.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let files = files_below(&data);
        let mid_write = files
            .iter()
            .any(|(p, hidden)| *hidden && fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false));
        if mid_write && files.iter().any(|(_, hidden)| !hidden) {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended before it could be killed mid-write"
        );
        assert!(Instant::now() < deadline, "no pack was written");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Every visible pack is whole: its name is the hash of its bytes.
    let visible: Vec<PathBuf> = files_below(&data)
        .into_iter()
        .filter(|(_, hidden)| !hidden)
        .map(|(p, _)| p)
        .collect();
    assert!(!visible.is_empty());
    for p in &visible {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(sha256_hex(p), name, "partial pack {}", p.display());
    }
    // The repository is still one restic accepts, and Cairn goes on.
    s.disk().restic(["unlock"]).ok();
    s.disk().check(false);
    s.nfs().cairn(["unlock"]).ok();
    let id = snapshot_id(&s.nfs().backup(Tool::Cairn, [&src]));
    s.disk().check(true);
    s.disk().assert_restores(Tool::Restic, &id, &src, &src);
}

/// The lines on stderr that are not empty.
fn error_lines(r: &common::Run) -> Vec<String> {
    r.stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn missing_servers_exports_and_repositories_fail_quickly_in_one_line() {
    let mut s = Shared::new(Repo::empty("nfs-errors"));
    let free = free_port();
    let cases = [
        (
            format!("nfs://127.0.0.1:{free}/export/repo"),
            "Connection refused",
            1,
        ),
        (
            format!("nfs://127.0.0.1:{}/not-exported/repo", s.server.port),
            "the server exports no folder of /not-exported/repo",
            1,
        ),
        // Exported, but no repository there: restic's "does not exist".
        (s.server.url("repo"), "repository does not exist", 10),
    ];
    for (url, says, code) in cases {
        s.r.repo = PathBuf::from(&url);
        let start = Instant::now();
        let r = s.r.cairn(["snapshots"]);
        assert!(start.elapsed() < Duration::from_secs(20), "{url}: too slow");
        assert_eq!(r.code, Some(code), "{url}: {}", r.describe());
        let lines = error_lines(&r);
        assert_eq!(lines.len(), 1, "{url}: {lines:#?}");
        assert!(lines[0].contains(says), "{url}: {}", lines[0]);
        if code == 1 {
            assert!(lines[0].contains(&url), "names the location: {}", lines[0]);
        }
    }
    let r = s.nfs().cairn(["-o", "nfs.bogus=1", "snapshots"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("option nfs.bogus is not known"),
        "{}",
        r.stderr
    );
}
