//! `cairn mount` through real FUSE: the tree under `snapshots/latest/`
//! equals `restic restore` of the same snapshot (restic-written fixture
//! and a Cairn-written repository), restic's `ids/`, `hosts/`, `tags/`
//! views, new snapshots appearing while mounted, ranged and concurrent
//! reads, EIO for a damaged blob while the mount stays up, unmounting on
//! SIGINT and on `fusermount3 -u` with no lock left, and bad input.
//!
//! Skipped (with a message) where `/dev/fuse` or `fusermount3` is missing,
//! unless `CAIRN_REQUIRE_FUSE=1` (as `scripts/test.sh` sets it where
//! `/dev/fuse` exists): then a
//! missing FUSE fails the tests.

mod common;

use common::process::noise;
use common::tree::{self, Opts};
use common::{Fixture, Tool};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Whether FUSE can be used here; fails instead of skipping when
/// `CAIRN_REQUIRE_FUSE=1`.
fn fuse_available() -> bool {
    let device = Path::new("/dev/fuse").exists();
    let program = Command::new("fusermount3")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if device && program {
        return true;
    }
    let why = if device {
        "fusermount3 is not installed (package fuse3)"
    } else {
        "/dev/fuse does not exist"
    };
    if std::env::var("CAIRN_REQUIRE_FUSE").as_deref() == Ok("1") {
        panic!("FUSE is required (CAIRN_REQUIRE_FUSE=1) but {why}");
    }
    eprintln!("skipping the mount tests: {why}");
    false
}

fn is_mounted(path: &Path) -> bool {
    let canonical = path.canonicalize().unwrap_or(path.to_path_buf());
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(1) == Some(&*canonical.to_string_lossy()))
}

/// A running `cairn mount`; killed and lazily unmounted on drop, so that a
/// failed test leaves no mount behind.
struct Mounted {
    child: Child,
    mountpoint: PathBuf,
}

impl Mounted {
    fn start(f: &Fixture, mountpoint: &Path, extra: &[&str]) -> Mounted {
        let mut child = f
            .command(Tool::Cairn)
            .arg("mount")
            .args(extra)
            .arg(mountpoint)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("Now serving the repository at") {
                    let _ = tx.send(());
                }
            }
        });
        let mounted = Mounted {
            child,
            mountpoint: mountpoint.to_path_buf(),
        };
        rx.recv_timeout(Duration::from_secs(60))
            .expect("cairn mount did not report serving");
        assert!(is_mounted(mountpoint), "not in /proc/mounts");
        mounted
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Waits for the process to end (at most `within`).
    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "cairn mount did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("fusermount3")
            .arg("-uz")
            .arg(&self.mountpoint)
            .stderr(Stdio::null())
            .status();
    }
}

fn lock_files(f: &Fixture) -> usize {
    std::fs::read_dir(f.repo.join("locks")).map_or(0, |d| d.count())
}

/// A Cairn-written repository with one snapshot of a small tree: several
/// files (one of many blobs), a symlink, a directory, odd modes.
fn cairn_written() -> (Fixture, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("cairn-it-mount-")
        .tempdir()
        .unwrap();
    let repo = dir.path().join("repo");
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "mount-test\n").unwrap();
    let f = Fixture {
        name: "cairn-written".into(),
        dir,
        repo,
        password_file,
    };
    f.cairn(["init"]).ok();
    let src = f.scratch("src");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("big.bin"), noise(6 << 20, 7)).unwrap();
    std::fs::write(src.join("small.txt"), b"hello mount\n").unwrap();
    std::fs::write(src.join("sub/other.bin"), noise(300_000, 9)).unwrap();
    std::fs::write(src.join("sub/deeper/empty"), b"").unwrap();
    std::fs::set_permissions(
        src.join("small.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("../small.txt", src.join("sub/link")).unwrap();
    cairn_backup(&f, &src, &["--host", "mounthost", "--tag", "t1"]);
    (f, src)
}

fn cairn_backup(f: &Fixture, src: &Path, extra: &[&str]) {
    let mut args: Vec<std::ffi::OsString> = vec!["backup".into()];
    args.extend(extra.iter().map(Into::into));
    args.push(src.into());
    f.cairn(args).ok();
}

/// `restic restore latest` into a scratch dir; returns it.
fn restic_restore(f: &Fixture, name: &str) -> PathBuf {
    let target = f.scratch(name);
    let mut args: Vec<std::ffi::OsString> = vec!["restore".into(), "latest".into()];
    args.push("--target".into());
    args.push(target.clone().into());
    f.restic(args).ok();
    target
}

fn compare_latest_with_restore(f: &Fixture) {
    let restored = restic_restore(f, "restored");
    let mnt = f.scratch("mnt");
    let _m = Mounted::start(f, &mnt, &[]);
    let opts = Opts {
        root_meta: false,
        ..Opts::default()
    };
    // `latest` is a symlink: the comparator lstats its root, so it scans
    // the directory the link names.
    let target = std::fs::read_link(mnt.join("snapshots/latest")).unwrap();
    tree::assert_same(
        &format!("{}: snapshots/latest", f.name),
        &restored,
        &mnt.join("snapshots").join(target),
        opts,
    );
}

#[test]
fn latest_of_a_restic_written_repository_equals_restic_restore() {
    if !fuse_available() {
        return;
    }
    compare_latest_with_restore(&Fixture::new("v2"));
}

#[test]
fn latest_of_a_cairn_written_repository_equals_restic_restore() {
    if !fuse_available() {
        return;
    }
    let (f, _src) = cairn_written();
    compare_latest_with_restore(&f);
}

#[test]
fn ids_hosts_and_tags_views_and_new_snapshots_appear() {
    if !fuse_available() {
        return;
    }
    let f = Fixture::new("v1");
    let snapshots = f.snapshots();
    let mnt = f.scratch("mnt");
    let _m = Mounted::start(&f, &mnt, &[]);
    let mut top: Vec<String> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["hosts", "ids", "snapshots", "tags"]);
    for sn in &snapshots {
        let short = &sn["short_id"].as_str().unwrap();
        assert!(mnt.join("ids").join(short).is_dir(), "ids/{short}");
        let host = sn["hostname"].as_str().unwrap();
        assert!(mnt.join("hosts").join(host).join("latest").exists());
        for tag in sn["tags"].as_array().into_iter().flatten() {
            let dir = mnt.join("tags").join(tag.as_str().unwrap());
            assert!(dir.join("latest").exists(), "{}", dir.display());
        }
    }
    // latest points at the newest snapshot's name, by restic's time format.
    let newest = snapshots.last().unwrap()["time"].as_str().unwrap();
    let target = std::fs::read_link(mnt.join("snapshots/latest")).unwrap();
    let target = target.to_string_lossy();
    assert_eq!(&newest[..19], &target[..19], "latest -> {target}");
    assert!(mnt.join("snapshots").join(&*target).is_dir());

    // A snapshot made while mounted shows up.
    let src = f.scratch("more");
    std::fs::write(src.join("new-file"), b"new").unwrap();
    cairn_backup(&f, &src, &["--tag", "added-later"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let tagged = mnt.join("tags/added-later/latest");
    while !tagged.exists() {
        assert!(Instant::now() < deadline, "new snapshot did not appear");
        std::thread::sleep(Duration::from_millis(200));
    }
    let found = tagged.join(src.strip_prefix("/").unwrap()).join("new-file");
    assert_eq!(std::fs::read(found).unwrap(), b"new");
}

#[test]
fn ranged_and_concurrent_reads_and_a_damaged_blob_gives_eio() {
    if !fuse_available() {
        return;
    }
    let (f, src) = cairn_written();
    let big = std::fs::read(src.join("big.bin")).unwrap();
    let other = std::fs::read(src.join("sub/other.bin")).unwrap();
    let mnt = f.scratch("mnt");
    let m = Mounted::start(&f, &mnt, &[]);
    let root = mnt
        .join("snapshots/latest")
        .join(src.strip_prefix("/").unwrap());

    // dd with skip/count reads exactly that range.
    let out = Command::new("dd")
        .arg(format!("if={}", root.join("big.bin").display()))
        .args(["bs=4096", "skip=300", "count=70", "status=none"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, big[300 * 4096..370 * 4096]);
    let mut file = std::fs::File::open(root.join("big.bin")).unwrap();
    for (off, len) in [
        (0u64, 1usize),
        (1 << 20, 65536),
        ((6 << 20) - 10, 10),
        (12345, 3_000_000),
    ] {
        file.seek(SeekFrom::Start(off)).unwrap();
        let mut buf = vec![0; len];
        file.read_exact(&mut buf).unwrap();
        assert_eq!(buf, big[off as usize..off as usize + len], "at {off}");
    }

    // Concurrent readers of different files.
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let (path, expected) = if i % 2 == 0 {
                (root.join("big.bin"), big.clone())
            } else {
                (root.join("sub/other.bin"), other.clone())
            };
            std::thread::spawn(move || {
                for _ in 0..3 {
                    assert_eq!(std::fs::read(&path).unwrap(), expected);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(m);

    // Damage the pack holding other.bin's first blob; mount again (the
    // kernel's page cache of the first mount is gone).
    let mut repo = common::open_fixture_repo(&f);
    repo.load_index().unwrap();
    let latest = repo
        .find_snapshot("latest", &cairn::SnapshotFilter::default())
        .unwrap();
    let path = format!("{}/sub/other.bin", src.display());
    let (node, _) = cairn::walk::find_node(&repo, &latest.snapshot.tree, path.as_bytes()).unwrap();
    let blob = node.unwrap().content.unwrap()[0];
    let loc = repo.index().lookup(cairn::BlobType::Data, &blob).unwrap();
    let hex = loc.pack.to_hex();
    let pack = f.repo.join("data").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[(loc.offset + u64::from(loc.length) / 2) as usize] ^= 0x55;
    std::fs::remove_file(&pack).unwrap();
    std::fs::write(&pack, bytes).unwrap();

    let mnt2 = f.scratch("mnt2");
    let mut m = Mounted::start(&f, &mnt2, &[]);
    let root = mnt2
        .join("snapshots/latest")
        .join(src.strip_prefix("/").unwrap());
    let err = std::fs::read(root.join("sub/other.bin")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    // The mount stays up and other files still read.
    assert_eq!(
        std::fs::read(root.join("small.txt")).unwrap(),
        b"hello mount\n"
    );
    assert!(m.child.try_wait().unwrap().is_none());
    m.signal(libc::SIGINT);
    assert!(m.wait(Duration::from_secs(10)).success());
}

#[test]
fn sigint_and_fusermount_unmount_cleanly_without_a_lock() {
    if !fuse_available() {
        return;
    }
    let f = Fixture::new("v2");
    for how in ["SIGINT", "SIGTERM", "fusermount3 -u"] {
        let mnt = f.scratch(&format!("mnt-{}", how.replace(' ', "-")));
        let mut m = Mounted::start(&f, &mnt, &[]);
        assert_eq!(lock_files(&f), 1, "a shared lock is held while mounted");
        match how {
            "SIGINT" => m.signal(libc::SIGINT),
            "SIGTERM" => m.signal(libc::SIGTERM),
            _ => {
                let s = Command::new("fusermount3").arg("-u").arg(&mnt).status();
                assert!(s.unwrap().success());
            }
        }
        let status = m.wait(Duration::from_secs(10));
        assert_eq!(status.code(), Some(0), "{how}");
        assert!(!is_mounted(&mnt), "{how}: still mounted");
        assert_eq!(lock_files(&f), 0, "{how}: lock left behind");
    }
}

#[test]
fn bad_mountpoints_and_missing_fusermount_fail_with_one_line() {
    let f = Fixture::new("v2");
    let missing = f.dir.path().join("no-such-dir");
    let nonempty = f.scratch("full");
    std::fs::write(nonempty.join("x"), b"x").unwrap();
    let empty = f.scratch("empty");
    let cases: Vec<(PathBuf, Option<&str>, &str)> = vec![
        (missing, None, "does not exist"),
        (nonempty, None, "is not empty"),
        (empty, Some("/nonexistent-bin"), "FUSE is not available"),
    ];
    for (mountpoint, path_env, expected) in cases {
        let mut c = f.command(Tool::Cairn);
        c.arg("mount").arg(&mountpoint);
        if let Some(p) = path_env {
            c.env("PATH", p).env_remove("FUSERMOUNT_PATH");
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert_eq!(lock_files(&f), 0);
    }
}

/// `cat PATH` as the unprivileged user 65534 (nobody): the bytes, or
/// cat's complaint.
fn read_as_nobody(path: &Path) -> Result<Vec<u8>, String> {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(path)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// restic's `--allow-other` (other users may enter the mount, the
/// snapshot's modes apply) and `--no-default-permissions` (with it, the
/// modes are not checked).
#[test]
fn allow_other_and_no_default_permissions_as_restic() {
    if !fuse_available() {
        return;
    }
    // SAFETY: geteuid(2) only reads the process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: reading as another user needs root");
        return;
    }
    let (f, src) = cairn_written();
    // Let user 65534 reach the mount points (temp dirs are 0700).
    std::fs::set_permissions(f.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let in_latest = |mnt: &Path, name: &str| {
        mnt.join("snapshots/latest")
            .join(src.strip_prefix("/").unwrap())
            .join(name)
    };
    let big = std::fs::read(src.join("big.bin")).unwrap();
    // big.bin is 0644; small.txt is 0640, root's.
    for (name, flags, big_readable, small_readable) in [
        ("plain", &[][..], false, false),
        ("allow", &["--allow-other"][..], true, false),
        (
            "nodefault",
            &["--allow-other", "--no-default-permissions"][..],
            true,
            true,
        ),
    ] {
        let mnt = f.scratch(&format!("mnt-{name}"));
        std::fs::set_permissions(&mnt, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _m = Mounted::start(&f, &mnt, flags);
        // root always reads through its own mount.
        assert_eq!(std::fs::read(in_latest(&mnt, "big.bin")).unwrap(), big);
        let denied = |got: &Result<Vec<u8>, String>| {
            got.as_ref().is_err_and(|e| e.contains("Permission denied"))
        };
        let got_big = read_as_nobody(&in_latest(&mnt, "big.bin"));
        if big_readable {
            assert_eq!(got_big.as_ref(), Ok(&big), "{name}: big.bin");
        } else {
            assert!(denied(&got_big), "{name}: big.bin: {got_big:?}");
        }
        let got_small = read_as_nobody(&in_latest(&mnt, "small.txt"));
        if small_readable {
            assert_eq!(
                got_small,
                Ok(b"hello mount\n".to_vec()),
                "{name}: small.txt"
            );
        } else {
            assert!(denied(&got_small), "{name}: small.txt: {got_small:?}");
        }
    }
}
