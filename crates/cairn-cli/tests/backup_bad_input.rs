//! `cairn backup` when things go wrong: missing source paths, a missing
//! repository, a wrong password, files it may not read, a full disk.
//! Exit codes are current restic's (1 fatal, 3 some files unreadable,
//! 10 no repository, 12 wrong password).  Needs root (tmpfs mount, setpriv).

#[macro_use]
mod common;
#[path = "backup_support/mod.rs"]
mod backup_support;

use std::fs;
use std::path::Path;
use std::process::Command;

use backup_support::fstree::{build_random_files, chmod, prng, write};
use backup_support::{snapshot_id, summary, to_run, Repo};
use common::{Run, Tool};

fn nonempty_lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}

fn assert_no_lock(r: &Repo) {
    let locks = r.repo_files("locks");
    assert!(locks.is_empty(), "lock file(s) left behind: {locks:?}");
}

#[test]
fn missing_source_path() {
    let r = Repo::init("missing", Tool::Cairn, 2);
    let missing = r.path("does-not-exist");
    let out = r.cairn(["backup".as_ref(), missing.as_os_str()]);
    out.assert_no_panic();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let lines = nonempty_lines(&out.stderr);
    assert!(
        !lines.is_empty() && lines.len() <= 2 && lines.last().unwrap().starts_with("Fatal: "),
        "expected a short fatal error:\n{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("does-not-exist"),
        "error must name the path:\n{}",
        out.describe()
    );
    assert!(r.repo_files("snapshots").is_empty(), "snapshot written");
    assert_no_lock(&r);

    // restic 0.14 skips a missing path when others exist: a warning naming
    // it, the snapshot of the rest (exit 0; current restic exits 3)
    let src = r.path("src");
    write(&src.join("f"), b"data\n");
    for tool in [Tool::Restic, Tool::Cairn] {
        let out = r.run(
            tool,
            [
                "backup".as_ref(),
                "--json".as_ref(),
                src.as_os_str(),
                missing.as_os_str(),
            ],
        );
        out.assert_no_panic();
        assert!(
            matches!(out.code, Some(0 | 3)),
            "{} must skip a missing path next to existing ones:\n{}",
            tool.name(),
            out.describe()
        );
        assert!(out.stderr.contains("does-not-exist"), "{}", out.describe());
        let sn = r.snapshot(&snapshot_id(&summary(&out)));
        assert_eq!(sn["paths"], serde_json::json!([src.to_str().unwrap()]));
    }
    assert_no_lock(&r);
}

#[test]
fn missing_repository_and_wrong_password() {
    let r = Repo::init("nopw", Tool::Cairn, 2);
    let src = r.path("src");
    write(&src.join("f"), b"data\n");
    let cases: [(&str, &str, &Path, i32); 2] = [
        (
            "missing repository",
            "RESTIC_REPOSITORY",
            &r.path("no-repo"),
            10,
        ),
        (
            "wrong password",
            "RESTIC_PASSWORD_FILE",
            &r.path("wrong-password"),
            12,
        ),
    ];
    fs::write(r.path("wrong-password"), "not it\n").unwrap();
    for (what, var, value, code) in cases {
        let out = r
            .command(Tool::Cairn)
            .env(var, value)
            .arg("backup")
            .arg(&src)
            .output()
            .unwrap();
        let out = to_run(Tool::Cairn, vec!["backup".into()], out);
        out.assert_no_panic();
        assert_eq!(out.code, Some(code), "{what}:\n{}", out.describe());
        let lines = nonempty_lines(&out.stderr);
        assert!(
            (1..=2).contains(&lines.len()),
            "{what}: expected a one-line error:\n{}",
            out.describe()
        );
        assert!(
            out.stdout.is_empty(),
            "{what}: printed output:\n{}",
            out.describe()
        );
    }
    assert!(!r.path("no-repo").exists(), "backup created a repository");
    assert!(r.repo_files("snapshots").is_empty());
    assert_no_lock(&r);
}

/// Runs as `nobody` (root reads everything): a file and a directory with
/// mode 0000 are reported, the rest is saved, exit code 3, like restic.
#[test]
fn unreadable_files_as_unprivileged_user() {
    let r = Repo::init("unreadable", Tool::Cairn, 2);
    let src = r.path("src");
    build_random_files(&src, 4, 20_000, 9);
    write(&src.join("secret"), b"you may not read this\n");
    chmod(&src.join("secret"), 0o000);
    write(&src.join("closed/inner"), b"in a closed dir\n");
    chmod(&src.join("closed"), 0o000);
    chmod(r.dir.path(), 0o755);
    let st = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&r.repo)
        .arg(r.dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    // chown -R on the temp dir also gave src to nobody; make the two
    // unreadable entries root's again so that 0000 means "unreadable"
    for p in [src.join("secret"), src.join("closed")] {
        std::os::unix::fs::lchown(&p, Some(0), Some(0)).unwrap();
    }
    let setpriv = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let mut ids = Vec::new();
    for tool in [Tool::Restic, Tool::Cairn] {
        let out = r
            .command_via(tool, &setpriv)
            .args(["backup".as_ref(), "--json".as_ref(), src.as_os_str()])
            .output()
            .unwrap_or_else(|e| panic!("setpriv (util-linux) is needed: {e}"));
        let run: Run = to_run(tool, vec!["backup".into()], out);
        run.assert_no_panic();
        assert_eq!(
            run.code,
            Some(3),
            "{} with unreadable files:\n{}",
            tool.name(),
            run.describe()
        );
        for name in ["secret", "closed"] {
            assert!(
                run.stderr
                    .lines()
                    .any(|l| l.contains(&format!("src/{name}"))),
                "{}: no error line names {name}:\n{}",
                tool.name(),
                run.describe()
            );
        }
        ids.push(snapshot_id(&summary(&run)));
    }
    let (rp, cp) = (r.ls_paths(&ids[0]), r.ls_paths(&ids[1]));
    assert_eq!(rp, cp, "restic and cairn saved different paths");
    let secret = src.join("secret");
    assert!(
        !cp.contains(secret.to_str().unwrap()),
        "the unreadable file is in the snapshot"
    );
    assert!(
        cp.iter().any(|p| p.ends_with("d0/f000.bin")),
        "readable files missing: {cp:?}"
    );
    assert_no_lock(&r);
    r.check(true);
}

/// Unmounts the tmpfs whatever happens.
struct Mount(std::path::PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A 20 MiB tmpfs as the repository, 60 MiB to back up: a clear error, no
/// lock, a repository restic accepts, and a later smaller backup works.
#[test]
fn full_disk_mid_backup() {
    let r = Repo::empty("fulldisk");
    fs::create_dir(&r.repo).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
        .arg(&r.repo)
        .status()
        .unwrap();
    assert!(st.success(), "mount tmpfs (tests run as root)");
    let _mount = Mount(r.repo.clone());
    r.cairn(["init"]).ok();
    let src = r.path("src");
    write(&src.join("small.txt"), b"small\n");
    write(&src.join("big.bin"), &prng(60 << 20, 11));
    let out = r.cairn(["backup".as_ref(), src.as_os_str()]);
    out.assert_no_panic();
    assert_ne!(
        out.code,
        Some(0),
        "backup into a full disk succeeded?\n{}",
        out.describe()
    );
    assert!(
        out.stderr.to_lowercase().contains("no space left"),
        "the error must say the disk is full:\n{}",
        out.describe()
    );
    assert!(nonempty_lines(&out.stderr).len() <= 3, "{}", out.describe());
    assert_no_lock(&r);
    assert!(r.repo_files("snapshots").is_empty(), "a snapshot was saved");
    r.check(false);

    fs::remove_file(src.join("big.bin")).unwrap();
    let s = r.backup(Tool::Cairn, [&src]);
    let id = snapshot_id(&s);
    r.check(true);
    r.assert_restores(Tool::Cairn, &id, &src, &src);
}
