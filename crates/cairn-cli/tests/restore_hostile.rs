//! `cairn restore` of crafted, sealed repositories through the real
//! binary: hostile snapshots (duplicate names that pair a symlink with a
//! file or directory), symlinks planted in the target before the restore,
//! and a chain 10,000 directories deep. Nothing outside the target may
//! change, what is restored must be exactly the snapshot's bytes, no lock
//! may stay behind, and restic must still accept the repository.
//!
//! The library's own tests (`restore::hostile_tests`) cover the same cases
//! in-process on a plaintext fake repository; these run the command line
//! on real encrypted repositories, as a user (typically root) would.

mod common;

use cairn::format::{mode, GoTime, Node};
use cairn::testing::{dir, file, fingerprint_tree, symlink, Crafter};
use cairn::Id;
use common::crafted::Limits;
use common::process::count_stdout_lines;
use common::{Fixture, Run, Tool};
use std::fs;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

/// The modification time of everything outside the target (and of the
/// crafted file whose first blob matches an outside file).
const OLD_MTIME: u64 = 1_000_000;

fn old_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(OLD_MTIME)
}

fn go_old_time() -> GoTime {
    GoTime::from_system_time(old_time(), 0)
}

/// Sets a file's or directory's mtime without following a symlink (none
/// is involved: `p` is made by the test).
fn set_old_mtime(p: &Path) {
    fs::File::open(p).unwrap().set_modified(old_time()).unwrap();
}

/// A directory outside every restore target, with what it held before.
struct Outside {
    dir: PathBuf,
    before: Vec<(PathBuf, String)>,
}

impl Outside {
    /// `outside/` in the fixture's temporary directory (beside, not in,
    /// any target), holding files `victim` and `victim2` (mode 0640,
    /// content `victim`) and empty directories `vdir` and `vdir2` (mode
    /// 0750), all with an old mtime.
    fn new(f: &Fixture, victim: &[u8]) -> Outside {
        let dir = f.scratch("outside");
        for name in ["victim", "victim2"] {
            fs::write(dir.join(name), victim).unwrap();
            fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o640)).unwrap();
        }
        for name in ["vdir", "vdir2", "vdir3"] {
            fs::create_dir(dir.join(name)).unwrap();
            fs::set_permissions(dir.join(name), fs::Permissions::from_mode(0o750)).unwrap();
        }
        for p in ["victim", "victim2", "vdir", "vdir2", "vdir3", ""] {
            set_old_mtime(&dir.join(p));
        }
        let mut o = Outside {
            dir,
            before: Vec::new(),
        };
        o.before = o.now();
        o
    }

    fn now(&self) -> Vec<(PathBuf, String)> {
        fingerprint_tree(&self.dir)
    }

    fn assert_unchanged(&self, run: &Run) {
        assert_eq!(
            self.now(),
            self.before,
            "something outside the target changed\n{}",
            run.describe()
        );
    }
}

fn assert_no_locks(f: &Fixture, run: &Run) {
    let locks = f.repo.join("locks");
    if locks.exists() {
        assert!(
            f.repo_files("locks").is_empty(),
            "a lock was left behind: {:?}\n{}",
            f.repo_files("locks"),
            run.describe()
        );
    }
}

/// restic (0.14) checks the crafted repository after Cairn restored from
/// it: the restores changed nothing in it and left no lock.
fn assert_restic_accepts(f: &Fixture) {
    assert!(f.repo_files("locks").is_empty(), "stale lock");
    f.restic(["check", "--read-data"]).ok();
}

fn assert_absent(p: &Path, run: &Run) {
    assert!(
        fs::symlink_metadata(p).is_err(),
        "{} exists\n{}",
        p.display(),
        run.describe()
    );
}

/// A snapshot whose root tree pairs symlinks into `outside` with entries
/// of the same name: a regular file of mode 04777 (`f`: symlink first,
/// `g`: file first) and a directory of mode 0777 (`d`: symlink first,
/// holding a file; `e`: directory first, empty; `h`: symlink first,
/// empty), next to a file `ok`. Returns the root tree's ID.
fn duplicate_names_snapshot(c: &mut Crafter, outside: &Outside) -> Id {
    let evil = c.data(b"evil").unwrap();
    let fine = c.data(b"fine").unwrap();
    let suid = |name: &str| {
        let mut n = file(name, &[evil], 4);
        n.mode = mode::SETUID | 0o777;
        n
    };
    let inner = c.tree(vec![file("x", &[evil], 4)]).unwrap();
    let empty = c.tree(vec![]).unwrap();
    let open_dir = |name: &str, subtree: Id| {
        let mut n = dir(name, subtree);
        n.mode = mode::DIR | 0o777;
        n
    };
    let to = |name: &str| outside.dir.join(name).as_os_str().as_bytes().to_vec();
    let root = c
        .tree(vec![
            symlink("f", to("victim")),
            suid("f"),
            suid("g"),
            symlink("g", to("victim2")),
            symlink("d", to("vdir")),
            open_dir("d", inner),
            open_dir("e", empty),
            symlink("e", to("vdir2")),
            symlink("h", to("vdir3")),
            open_dir("h", empty),
            file("ok", &[fine], 4),
        ])
        .unwrap();
    c.snapshot(root).unwrap();
    root
}

/// On main (before the restore hardening, checked with its binary) the
/// default restore left `outside/victim` at mode 04777 (pair `f`) and
/// `outside/vdir3` at 0777 (pair `h`), chmod-ed through the snapshot's own
/// symlinks; it exited 1 only because pair `d` happened to fail with
/// "Directory not empty" (without that pair it exited 0), and named no
/// tree. restic 0.19 refuses a tree with duplicate names; Cairn restores
/// everything else, names the tree and each name, and exits 1 as restic
/// does when a restore finished with errors ("There were N errors").
#[test]
fn duplicate_names_are_refused_and_nothing_outside_changes() {
    let (f, mut c) = Fixture::crafted(2);
    let outside = Outside::new(&f, b"victim");
    let root = duplicate_names_snapshot(&mut c, &outside);
    for (i, extra) in [&[][..], &["--overwrite", "never"], &["--delete"]]
        .into_iter()
        .enumerate()
    {
        let target = f.scratch(&format!("target-{i}"));
        let mut args = vec!["restore", "latest", "--target", target.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = f.cairn(&args);
        run.assert_no_panic();
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains(&root.to_hex()), "{}", run.describe());
        for name in ["\"f\"", "\"g\"", "\"d\"", "\"e\"", "\"h\""] {
            assert!(run.stderr.contains(name), "{name}: {}", run.describe());
        }
        assert_eq!(fs::read(target.join("ok")).unwrap(), b"fine");
        // None of the duplicates is restored.
        for name in ["f", "g", "d", "e", "h"] {
            assert_absent(&target.join(name), &run);
        }
        outside.assert_unchanged(&run);
        assert_no_locks(&f, &run);
    }
    assert_restic_accepts(&f);
}

/// Deterministic bytes that differ from blob to blob.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// The overwrite modes restic 0.19 knows, each as extra arguments.
const OVERWRITE_MODES: [&[&str]; 5] = [
    &["--overwrite", "always"],
    &["--overwrite", "if-changed"],
    &["--overwrite", "if-newer"],
    &["--overwrite", "never"],
    &["--delete"],
];

/// A target `T/src -> outside/` where the snapshot has a directory `src`
/// holding a two-blob file `victim`; `outside/victim` is the first blob
/// followed by other bytes, with the snapshot file's size and mtime (so
/// that both a blob-by-blob comparison and if-changed's size-and-mtime
/// shortcut would call it up to date if they looked through the link).
/// Links are also planted one level down (`T/deep/dl -> outside/` where
/// the snapshot has a directory) and in place of a file (`T/filelink ->
/// outside/victim2`).
///
/// On main (before the restore hardening, checked with its binary) the
/// restore compared the file through the symlink, then replaced the
/// symlink by a real directory: with `always` and with `--delete` it found
/// blob 1 in place and wrote only blob 2, so `T/src/victim` started with
/// zeros, exit 0; with `if-newer` and `never` the file was left missing,
/// exit 0; with `if-changed` it was missing too, exit 1.
#[test]
fn symlinks_planted_in_the_target_redirect_nothing_in_any_overwrite_mode() {
    let (f, mut c) = Fixture::crafted(2);
    let first = pattern(5000, 1);
    let second = pattern(3000, 2);
    let mut lookalike = first.clone();
    lookalike.extend(pattern(second.len(), 3));
    let outside = Outside::new(&f, &lookalike);

    let b1 = c.data(&first).unwrap();
    let b2 = c.data(&second).unwrap();
    let mut victim: Node = file("victim", &[b1, b2], (first.len() + second.len()) as u64);
    victim.mtime = go_old_time();
    let sub = c.tree(vec![victim]).unwrap();
    // Also a file `filelink` and a directory `deep/dl`, for links planted
    // one level down and in place of a file.
    let new = c.data(b"new").unwrap();
    let dl = c.tree(vec![file("victim", &[new], 3)]).unwrap();
    let deep = c.tree(vec![dir("dl", dl)]).unwrap();
    let root = c
        .tree(vec![
            dir("src", sub),
            file("filelink", &[new], 3),
            dir("deep", deep),
        ])
        .unwrap();
    c.snapshot(root).unwrap();
    let expected: Vec<u8> = [first, second].concat();

    for (i, extra) in OVERWRITE_MODES.into_iter().enumerate() {
        let target = f.scratch(&format!("target-{i}"));
        std::os::unix::fs::symlink(&outside.dir, target.join("src")).unwrap();
        let filelink_to = outside.dir.join("victim2");
        std::os::unix::fs::symlink(&filelink_to, target.join("filelink")).unwrap();
        fs::create_dir(target.join("deep")).unwrap();
        std::os::unix::fs::symlink(&outside.dir, target.join("deep/dl")).unwrap();
        if extra == ["--delete"] {
            // Not in the snapshot: --delete removes the links themselves,
            // never what they point at.
            std::os::unix::fs::symlink(&outside.dir, target.join("gone")).unwrap();
            std::os::unix::fs::symlink(outside.dir.join("victim"), target.join("gone-file"))
                .unwrap();
        }
        let mut args = vec!["restore", "latest", "--target", target.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = f.cairn(&args).ok();
        let src = fs::symlink_metadata(target.join("src")).unwrap();
        assert!(src.is_dir(), "{extra:?}: src is not a real directory");
        assert_eq!(
            fs::read(target.join("src/victim")).unwrap(),
            expected,
            "{extra:?}: restored bytes differ from the snapshot's\n{}",
            run.describe()
        );
        let dl = fs::symlink_metadata(target.join("deep/dl")).unwrap();
        assert!(dl.is_dir(), "{extra:?}: deep/dl is not a real directory");
        assert_eq!(fs::read(target.join("deep/dl/victim")).unwrap(), b"new");
        // A link in place of a file is replaced unless the mode keeps
        // existing entries (if-newer: the link is newer; never); a kept
        // link still points where it did.
        let filelink = target.join("filelink");
        if matches!(extra, [_, "if-newer" | "never"]) {
            assert_eq!(fs::read_link(&filelink).unwrap(), filelink_to, "{extra:?}");
        } else {
            assert!(
                fs::symlink_metadata(&filelink).unwrap().is_file(),
                "{extra:?}"
            );
            assert_eq!(fs::read(&filelink).unwrap(), b"new", "{extra:?}");
        }
        if extra == ["--delete"] {
            assert_absent(&target.join("gone"), &run);
            assert_absent(&target.join("gone-file"), &run);
        }
        outside.assert_unchanged(&run);
        assert_no_locks(&f, &run);
    }
    assert_restic_accepts(&f);
}

/// A main-thread stack 8 times smaller than the usual 8 MiB.
const SMALL_STACK: u64 = 1 << 20;

/// Reads `top/d/…/d/f` (`depth` directories `d`) below `target`, a path
/// far longer than PATH_MAX, by opening at most 1,000 levels at a time
/// relative to the directory opened before (through /proc/self/fd).
fn read_bottom(target: &Path, depth: usize) -> Vec<u8> {
    let mut at = fs::File::open(target.join("top")).unwrap();
    let mut left = depth;
    while left > 0 {
        let step = left.min(1000);
        let rel = vec!["d"; step].join("/");
        let next = Path::new("/proc/self/fd")
            .join(at.as_raw_fd().to_string())
            .join(&rel);
        let meta = fs::symlink_metadata(&next).unwrap();
        assert!(
            meta.is_dir(),
            "{left} levels above the bottom: not a directory"
        );
        at = fs::File::open(&next).unwrap();
        left -= step;
    }
    let bottom = Path::new("/proc/self/fd")
        .join(at.as_raw_fd().to_string())
        .join("f");
    let mut content = Vec::new();
    fs::File::open(bottom)
        .unwrap()
        .read_to_end(&mut content)
        .unwrap();
    content
}

/// Counts the lines `cairn ls latest` prints, without holding them (they
/// are about 100 MB at 10,000 levels), and returns the last one.
fn ls_lines(f: &Fixture) -> (usize, String) {
    let child = f
        .command(Tool::Cairn)
        .args(["ls", "latest"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, last, out) = count_stdout_lines(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "cairn ls: {stderr}");
    (lines, String::from_utf8_lossy(&last).into_owned())
}

/// On main, restore overflowed its stack at about 1,500 levels (SIGABRT,
/// exit 134, lock left behind). Restored here on a stack 8 times smaller
/// than the usual one.
#[test]
fn a_chain_ten_thousand_directories_deep_restores_and_lists() {
    let depth = 10_000;
    let (f, mut c) = Fixture::crafted(2);
    let content = b"at the bottom of the chain\n";
    let blob = c.data(content).unwrap();
    let leaf = c
        .tree(vec![file("f", &[blob], content.len() as u64)])
        .unwrap();
    let chain = c.chain(depth, leaf).unwrap();
    let root = c.tree(vec![dir("top", chain)]).unwrap();
    c.snapshot(root).unwrap();

    let target = f.scratch("target");
    let removal = RemoveTree(&target);
    let small = Limits {
        stack: Some(SMALL_STACK),
        ..Limits::default()
    };
    let run = f.cairn_limited(
        small,
        ["restore", "latest", "--target", target.to_str().unwrap()],
    );
    assert_ne!(run.code, Some(134), "stack overflow\n{}", run.describe());
    let run = run.ok();
    assert_no_locks(&f, &run);
    assert_eq!(read_bottom(&target, depth), content);

    // The header, /top, `depth` directories and the file.
    let (lines, last) = ls_lines(&f);
    assert_eq!(lines, depth + 3);
    assert_eq!(last, format!("/top{}/f\n", "/d".repeat(depth)));

    drop(removal);
    assert!(!target.exists());
}

/// Removes a directory tree with `rm -rf` when dropped, also when the test
/// fails: `TempDir` would need a descriptor per level of a deep chain and
/// leave it behind; rm walks it without that limit.
struct RemoveTree<'a>(&'a Path);

impl Drop for RemoveTree<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rm")
            .arg("-rf")
            .arg(self.0)
            .status();
    }
}
