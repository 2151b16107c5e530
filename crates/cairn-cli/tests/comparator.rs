//! Tests of the tree comparator itself: it must see every kind of
//! difference the restore tests rely on it to find.

#[macro_use]
mod common;

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::tree::{self, diff, set_times, set_xattr, Kind, Opts, Tree};

const T1: (i64, i64) = (1_614_834_367, 123_456_789); // 2021-03-04 05:06:07.123456789
const T2: (i64, i64) = (-14_182_940, 999_999_999); // 1969-07-20 ...

/// A small tree with one of everything that does not need root.
fn build(root: &Path) {
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::write(root.join("file"), b"content\n").unwrap();
    fs::write(root.join("dir/sub/deep"), vec![7u8; 100_000]).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::write(root.join("hl-1"), b"linked").unwrap();
    fs::hard_link(root.join("hl-1"), root.join("dir/hl-2")).unwrap();
    symlink("file", root.join("link")).unwrap();
    let fifo =
        std::ffi::CString::new(root.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: valid C string.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    fs::set_permissions(root.join("fifo"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(root.join("\u{1faa8}-\t-name"), b"x").unwrap();
    set_xattr(&root.join("file"), "user.cairn", b"value");
    set_xattr(&root.join("dir"), "user.bin", b"\x00\xff");
    fs::set_permissions(root.join("dir/sub"), fs::Permissions::from_mode(0o1777)).unwrap();
    for p in [
        "file",
        "dir/sub/deep",
        "empty",
        "hl-1",
        "link",
        "fifo",
        "\u{1faa8}-\t-name",
        "dir/sub",
        "dir",
    ] {
        set_times(&root.join(p), T2, T1);
    }
}

fn pair() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    let b = t.path().join("b");
    build(&a);
    build(&b);
    (t, a, b)
}

fn diffs(a: &Path, b: &Path) -> Vec<String> {
    diff(&Tree::scan(a), &Tree::scan(b), Opts::default())
}

fn assert_one_diff(d: &[String], path: &str, what: &str) {
    assert!(
        d.iter()
            .any(|l| l.starts_with(&format!("{path}:")) && l.contains(what)),
        "expected a `{what}` difference at {path}, got: {d:#?}"
    );
}

#[test]
fn identical_trees_have_no_differences() {
    let (_t, a, b) = pair();
    let t = Tree::scan(&a);
    let d = diff(&t, &Tree::scan(&b), Opts::default());
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(t.get("fifo").unwrap().kind, Kind::Fifo);
    assert_eq!(
        t.get("link").unwrap().link_target.as_deref(),
        Some(&b"file"[..])
    );
    assert_eq!(t.get("hl-1").unwrap().hardlinks, vec![b"dir/hl-2".to_vec()]);
    assert_eq!(t.get("file").unwrap().mtime, T1);
    assert_eq!(
        t.get("file").unwrap().atime,
        T2,
        "scanning must not disturb atimes"
    );
    assert_eq!(t.get("dir/sub").unwrap().perm, 0o1777);
}

#[test]
fn detects_changed_mtime() {
    let (_t, a, b) = pair();
    set_times(&b.join("dir/sub/deep"), T2, (T1.0, T1.1 + 1));
    let d = diffs(&a, &b);
    assert_one_diff(&d, "dir/sub/deep", "mtime");
    assert_eq!(d.len(), 1, "{d:#?}");
}

#[test]
fn detects_changed_atime_and_symlink_times() {
    let (_t, a, b) = pair();
    set_times(&b.join("link"), (T2.0 + 1, T2.1), T1);
    let d = diffs(&a, &b);
    assert_one_diff(&d, "link", "atime");
    assert_eq!(d.len(), 1, "{d:#?}");
}

#[test]
fn detects_changed_mode() {
    let (_t, a, b) = pair();
    fs::set_permissions(b.join("file"), fs::Permissions::from_mode(0o4644)).unwrap();
    set_times(&b.join("file"), T2, T1);
    let d = diffs(&a, &b);
    assert_one_diff(&d, "file", "mode 0644 expected, got 4644");
    assert_eq!(d.len(), 1, "{d:#?}");
}

#[test]
fn detects_changed_content_same_size() {
    let (_t, a, b) = pair();
    let mut data = vec![7u8; 100_000];
    data[99_999] = 8;
    fs::write(b.join("dir/sub/deep"), data).unwrap();
    set_times(&b.join("dir/sub/deep"), T2, T1);
    let d = diffs(&a, &b);
    assert_one_diff(&d, "dir/sub/deep", "content differs at byte 99999");
    assert_eq!(d.len(), 1, "{d:#?}");
}

#[test]
fn detects_changed_xattr() {
    let (_t, a, b) = pair();
    set_xattr(&b.join("file"), "user.cairn", b"other");
    let d = diffs(&a, &b);
    assert_one_diff(&d, "file", "xattrs");
    assert_eq!(d.len(), 1, "{d:#?}");

    let (_t, a, b) = pair();
    set_xattr(&b.join("dir"), "user.extra", b"");
    assert_one_diff(&diffs(&a, &b), "dir", "xattrs");
}

#[test]
fn detects_symlink_target_hardlinks_missing_and_extra() {
    let (_t, a, b) = pair();
    fs::remove_file(b.join("link")).unwrap();
    symlink("filf", b.join("link")).unwrap();
    set_times(&b.join("link"), T2, T1);
    // break the hard link: same content, separate inode
    fs::remove_file(b.join("dir/hl-2")).unwrap();
    fs::write(b.join("dir/hl-2"), b"linked").unwrap();
    set_times(&b.join("dir/hl-2"), T2, T1);
    set_times(&b.join("dir"), T2, T1);
    fs::remove_file(b.join("empty")).unwrap();
    fs::write(b.join("surplus"), b"").unwrap();
    set_times(&b, T2, T1);
    let d = diffs(&a, &b);
    assert_one_diff(&d, "link", "symlink target");
    assert_one_diff(&d, "hl-1", "hard-linked");
    assert_one_diff(&d, "dir/hl-2", "hard-linked");
    assert_one_diff(&d, "empty", "missing");
    assert_one_diff(&d, "surplus", "unexpected");
}

#[test]
fn detects_type_owner_and_device_differences_in_memory() {
    // uid/gid and device numbers need root on disk; check the logic directly.
    let t = tempfile::tempdir().unwrap();
    build(t.path());
    let a = Tree::scan(t.path());
    let mut b = Tree::scan(t.path());
    b.entries.get_mut(&b"file"[..]).unwrap().uid = 1234;
    b.entries.get_mut(&b"fifo"[..]).unwrap().kind = Kind::CharDev;
    let mut dev = a.entries[&b"fifo"[..]].clone();
    dev.kind = Kind::CharDev;
    dev.rdev = Some(libc::makedev(1, 3));
    let mut dev2 = dev.clone();
    dev2.rdev = Some(libc::makedev(1, 5));
    let mut a2 = Tree {
        root: a.root.clone(),
        entries: a.entries.clone(),
    };
    a2.entries.insert(b"dev".to_vec(), dev);
    b.entries.insert(b"dev".to_vec(), dev2);
    let d = diff(&a2, &b, Opts::default());
    assert_one_diff(&d, "file", "owner");
    assert_one_diff(&d, "fifo", "type Fifo expected, got CharDev");
    assert_one_diff(&d, "dev", "device");
}

#[test]
fn names_are_compared_as_raw_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let (_t, a, b) = pair();
    let bad = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    fs::write(a.join(bad), b"1").unwrap();
    fs::write(
        b.join(std::ffi::OsStr::from_bytes("\u{fffd}\u{fffd}".as_bytes())),
        b"1",
    )
    .unwrap();
    for r in [&a, &b] {
        set_times(r, T2, T1);
    }
    let d = diffs(&a, &b);
    assert_one_diff(&d, "\\xff\\xfe", "missing");
    assert_one_diff(&d, "\u{fffd}\u{fffd}", "unexpected");
}

#[test]
fn copy_with_cp_a_is_identical() {
    // An independent copier that preserves everything: no false positives.
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a");
    build(&a);
    let b = t.path().join("b");
    let st = Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&b)
        .status()
        .expect("cp");
    assert!(st.success());
    // atimes: cp -a preserves them, but reading the source moved them
    let ta = Tree::scan(&a);
    let d = diff(
        &ta,
        &Tree::scan(&b),
        Opts {
            atime: false,
            ..Opts::default()
        },
    );
    assert!(d.is_empty(), "{d:#?}");
    assert_eq!(
        tree::read_xattrs(&b.join("file"))
            .get(&b"user.cairn"[..])
            .map(Vec::as_slice),
        Some(&b"value"[..])
    );
}
