//! End to end against the real restic: back up a directory with
//! `/usr/bin/restic`, restore it with restic and with Cairn, and compare
//! the two trees entry by entry. Requires restic (CI installs it); fails
//! loudly when it is missing.

use super::*;
use crate::filter::PatternList;
use crate::NoProgress;
use crate::{LocalBackend, SnapshotFilter};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::Command;
use std::sync::Arc;

const RESTIC: &str = "/usr/bin/restic";
const PASSWORD: &str = "cairn-test";

fn restic(repo: &Path, args: &[&OsStr]) {
    assert!(
        Path::new(RESTIC).exists(),
        "{RESTIC} is required for this test (install restic)"
    );
    let out = Command::new(RESTIC)
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("RESTIC_CACHE_DIR", repo.with_extension("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Everything restic restores about one entry, keyed by relative path.
fn describe(root: &Path) -> BTreeMap<Vec<u8>, String> {
    // Stat everything before reading anything: reading a file changes the
    // access time of all its hard links.
    let mut entries = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.is_dir() {
                stack.push(path.clone());
            }
            entries.push((path, m));
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for (path, m) in entries {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        let ft = m.file_type();
        let mut d = format!(
            "mode={:o} uid={} gid={} mtime={}.{:09}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.mtime(),
            m.mtime_nsec()
        );
        if ft.is_file() {
            let first = inodes.entry(m.ino()).or_insert_with(|| rel.clone());
            let data = std::fs::read(&path).unwrap();
            d += &format!(
                " size={} sha={} links={} first={} atime={}.{:09}",
                m.len(),
                Id::hash(&data),
                m.nlink(),
                String::from_utf8_lossy(first),
                m.atime(),
                m.atime_nsec()
            );
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&path).unwrap();
            d += &format!(" target={:?}", t.as_os_str().as_bytes());
        } else if ft.is_char_device() || ft.is_block_device() {
            d += &format!(" rdev={}", m.rdev());
        }
        if let Ok(names) = xattr::list(&path) {
            let mut names: Vec<_> = names.collect();
            names.sort();
            for n in names {
                let v = xattr::get(&path, &n).ok().flatten();
                d += &format!(" xattr:{n:?}={v:?}");
            }
        }
        out.insert(rel, d);
    }
    out
}

fn build_source(src: &Path) {
    let w = |p: &str, data: &[u8]| std::fs::write(src.join(p), data).unwrap();
    std::fs::create_dir_all(src.join("dir/deep")).unwrap();
    let mut big = Vec::new();
    let mut x: u32 = 1;
    for _ in 0..(3 << 20) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        big.push((x >> 16) as u8);
    }
    big.extend(std::iter::repeat_n(0u8, 2 << 20));
    w("big.bin", &big);
    w("empty", b"");
    w("dir/deep/a.txt", b"alpha\n");
    w("dir/b.log", b"beta\n");
    std::fs::write(src.join(OsStr::from_bytes(b"dir/caf\xe9")), b"latin1 name").unwrap();
    std::os::unix::fs::symlink(
        OsStr::from_bytes(b"../missing\xff"),
        src.join("dir/dangling"),
    )
    .unwrap();
    std::os::unix::fs::symlink("deep/a.txt", src.join("dir/rel")).unwrap();
    let src_fd = sys::open_root(src).unwrap();
    #[allow(clippy::unnecessary_cast)]
    let (fifo, chr) = (libc::S_IFIFO as u32, libc::S_IFCHR as u32);
    sys::mknod_at(&src_fd, b"fifo", fifo, 0o644, 0).unwrap();
    if sys::geteuid() == 0 {
        sys::mknod_at(&src_fd, b"null", chr, 0o666, libc::makedev(1, 3)).unwrap();
    }
    w("h1", b"hard");
    std::fs::hard_link(src.join("h1"), src.join("dir/h2")).unwrap();
    let _ = xattr::set(src.join("dir/b.log"), "user.note", b"\x00bin\xff");
    let perm = |p: &str, m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(src.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    };
    perm("dir/b.log", 0o2640);
    perm("empty", 0o400);
    perm("dir/deep", 0o1750);
    let t = |p: &str, s: i64, n: u32| {
        let ft = filetime::FileTime::from_unix_time(s, n);
        filetime::set_symlink_file_times(src.join(p), ft, ft).unwrap();
    };
    t("big.bin", 1_600_000_000, 123_456_789);
    t("dir/rel", 1_500_000_000, 1);
    t("dir/deep", 1_400_000_000, 999_999_999);
    t("dir", 1_300_000_000, 5);
}

#[test]
fn cairn_restores_what_restic_restores() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, repo_dir) = (tmp.path().join("src"), tmp.path().join("repo"));
    std::fs::create_dir(&src).unwrap();
    build_source(&src);
    restic(&repo_dir, &["init".as_ref()]);
    restic(&repo_dir, &["backup".as_ref(), src.as_os_str()]);

    let mut repo = Repository::open(Arc::new(LocalBackend::new(&repo_dir)), PASSWORD).unwrap();
    repo.load_index().unwrap();
    let snap = repo
        .find_snapshot("latest", &SnapshotFilter::default())
        .unwrap();

    let cases: [(&str, Vec<&str>, ListsFn); 3] = [
        ("all", vec![], |_| (vec![], vec![])),
        (
            "exclude",
            vec!["--exclude", "*.log", "--exclude", "deep"],
            |l| (vec![], vec![l]),
        ),
        (
            "include",
            vec!["--include", "a.txt", "--include", "h1"],
            |l| (vec![l], vec![]),
        ),
    ];
    for (name, flags, lists) in cases {
        let theirs = tmp.path().join(format!("restic-{name}"));
        let ours = tmp.path().join(format!("cairn-{name}"));
        let mut args: Vec<&OsStr> = vec!["restore".as_ref(), "latest".as_ref()];
        args.extend(["--target".as_ref(), theirs.as_os_str()]);
        args.extend(flags.iter().map(OsStr::new));
        restic(&repo_dir, &args);

        let patterns: Vec<&str> = flags.iter().skip(1).step_by(2).copied().collect();
        let (includes, excludes) = lists(PatternList::new(patterns, false).unwrap());
        let opts = RestoreOptions {
            target: ours.clone(),
            includes,
            excludes,
            verify: true,
            ..RestoreOptions::default()
        };
        let s = restore(&repo, &snap.snapshot.tree, None, &opts, &NoProgress).unwrap();
        assert!(s.errors.is_empty(), "{name}: {:?}", s.errors);
        same_trees(name, &theirs, &ours);
    }

    // `snapshot:subfolder`: the folder's contents land in the target.
    let ours = tmp.path().join("cairn-sub");
    let opts = RestoreOptions {
        target: ours.clone(),
        ..RestoreOptions::default()
    };
    let sub = src.as_os_str().as_bytes();
    let s = restore(&repo, &snap.snapshot.tree, Some(sub), &opts, &NoProgress).unwrap();
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    // restic's copy was read above, so its access times have moved on.
    let theirs = tmp
        .path()
        .join("restic-all")
        .join(src.strip_prefix("/").unwrap());
    same_trees("subfolder", &theirs, &ours);
}

type ListsFn = fn(PatternList) -> (Vec<PatternList>, Vec<PatternList>);

fn same_trees(name: &str, theirs: &Path, ours: &Path) {
    let strip_atime = |m: BTreeMap<Vec<u8>, String>| -> BTreeMap<Vec<u8>, String> {
        m.into_iter()
            .map(|(k, v)| (k, v.split(" atime=").next().unwrap_or_default().to_string()))
            .collect()
    };
    let (mut a, mut b) = (describe(theirs), describe(ours));
    if name == "subfolder" {
        (a, b) = (strip_atime(a), strip_atime(b));
    }
    assert!(!a.is_empty(), "{name}: restic restored nothing");
    for (k, v) in &a {
        assert_eq!(Some(v), b.get(k), "{name}: {}", String::from_utf8_lossy(k));
    }
    assert_eq!(a.len(), b.len(), "{name}: {:?} vs {:?}", a.keys(), b.keys());
}
