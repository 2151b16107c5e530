//! [`Excluder`] against the real restic: the same tree is backed up with
//! `/usr/bin/restic` (0.14) and various exclude flags, and the set of
//! paths restic saved (`restic ls --json`) must equal the set a walk
//! driven by the excluder keeps. Requires restic (CI installs it); the
//! one-file-system case also needs to mount a tmpfs (root) and is skipped
//! with a message otherwise.

use super::*;
use crate::backup::fsnode::tests::ResticRepo;
use crate::filter::read_pattern_file;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::process::Command;

const CACHE_SIG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

fn build_tree(root: &Path) {
    let files: &[(&str, &[u8])] = &[
        ("a.txt", b"a"),
        ("b.o", b"object"),
        ("keep.c", b"int x;"),
        ("debug.log", b"log"),
        ("important.log", b"kept by a negated pattern"),
        ("sub/x.tmp", b"tmp"),
        ("sub/deep/Y.TmP", b"tmp too, case-insensitively"),
        ("sub/deep/z", b"z"),
        ("excluded_dir/f", b"f"),
        ("skip_me/g", b"g"),
        ("nested/skip_me", b"file named like a pattern"),
        ("cache_ok/data", b"d"),
        ("cache_ok/sub/more", b"m"),
        ("cache_bad/data", b"d"),
        ("cache_short/data", b"d"),
        ("marked/.nobackup", b""),
        ("marked/f", b"f"),
        ("marked/sub/g", b"g"),
        ("magic_ok/TAG2", b"magic and more"),
        ("magic_ok/f", b"f"),
        ("magic_bad/TAG2", b"nomagic"),
        ("magic_bad/f", b"f"),
        ("magic_empty/TAG2", b""),
        ("magic_empty/f", b"f"),
    ];
    for (path, data) in files {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let mut tag = CACHE_SIG.to_vec();
    tag.extend_from_slice(b"\n# This file is a cache directory tag.\n");
    std::fs::write(root.join("cache_ok/CACHEDIR.TAG"), &tag).unwrap();
    std::fs::write(
        root.join("cache_bad/CACHEDIR.TAG"),
        b"Signature: nope, not a cache tag",
    )
    .unwrap();
    std::fs::write(root.join("cache_short/CACHEDIR.TAG"), &CACHE_SIG[..10]).unwrap();
    // Sizes around a 2K limit: equal is kept, one more byte is not.
    std::fs::create_dir(root.join("sizes")).unwrap();
    std::fs::write(root.join("sizes/exact"), vec![1u8; 2048]).unwrap();
    std::fs::write(root.join("sizes/over"), vec![1u8; 2049]).unwrap();
    std::fs::write(root.join("sizes/empty"), b"").unwrap();
    // A symlink's lstat size is its target's length.
    let long_target = "t".repeat(3000);
    std::os::unix::fs::symlink(&long_target, root.join("sizes/longlink")).unwrap();
    std::os::unix::fs::symlink("exact", root.join("sizes/shortlink")).unwrap();
    // A directory larger than 2K (many entries) is never size-excluded.
    for i in 0..200 {
        std::fs::write(root.join(format!("sizes/n{i:03}-{}", "x".repeat(20))), b"").unwrap();
    }
    assert!(std::fs::metadata(root.join("sizes")).unwrap().len() > 2048);
}

/// The absolute paths under `root` (inclusive) that the archiver would
/// keep with `ex`: name check, `lstat`, metadata check, sockets skipped.
fn walk(ex: &Excluder, root: &Path) -> BTreeSet<Vec<u8>> {
    let mut kept = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        if ex.excluded_by_name(path.as_os_str().as_bytes()) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if ex.excluded(&path, &meta) {
            continue;
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&path).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
        kept.insert(path.into_os_string().into_vec());
    }
    kept
}

/// The paths under `root` (inclusive) in restic's snapshot.
fn restic_paths(repo: &ResticRepo, snapshot: &str, root: &Path) -> BTreeSet<Vec<u8>> {
    let out = repo.run(&[OsStr::new("ls"), OsStr::new("--json"), OsStr::new(snapshot)]);
    let mut paths = BTreeSet::new();
    let prefix = root.as_os_str().as_bytes();
    for line in out.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_slice(line).unwrap();
        if v["struct_type"] != "node" {
            continue;
        }
        let p = v["path"].as_str().unwrap().as_bytes();
        if p == prefix || (p.starts_with(prefix) && p.get(prefix.len()) == Some(&b'/')) {
            paths.insert(p.to_vec());
        }
    }
    paths
}

fn show(set: &BTreeSet<Vec<u8>>) -> Vec<String> {
    set.iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// Backs up `root` with `flags` and checks restic kept what `opts` keeps.
/// Returns the paths kept, relative to `root` (`""` for `root` itself).
fn check(
    repo: &ResticRepo,
    root: &Path,
    flags: &[String],
    opts: &ExcludeOptions,
) -> BTreeSet<String> {
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let sn = repo.backup(root, &flag_refs);
    let theirs = restic_paths(repo, &sn, root);
    let ex = Excluder::new(opts, &[root.to_path_buf()]).unwrap();
    let ours = walk(&ex, root);
    assert_eq!(show(&ours), show(&theirs), "with restic flags {flags:?}");
    let prefix = root.as_os_str().len();
    show(&ours)
        .into_iter()
        .map(|p| p[prefix..].trim_start_matches('/').to_string())
        .collect()
}

/// Asserts which of `paths` are in `kept`.
fn expect(kept: &BTreeSet<String>, present: &[&str], absent: &[&str]) {
    for p in present {
        assert!(kept.contains(*p), "{p} should be kept: {kept:?}");
    }
    for p in absent {
        assert!(!kept.contains(*p), "{p} should be excluded: {kept:?}");
    }
}

fn patterns(p: &[&str], case_insensitive: bool) -> PatternList {
    PatternList::new(p, case_insensitive).unwrap()
}

#[test]
fn matches_restic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("root");
    build_tree(&root);
    let exclude_file = tmp.path().join("excludes");
    std::fs::write(&exclude_file, b"# a comment\n\n  skip_me  \n").unwrap();
    let repo = ResticRepo::init();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let abs_excluded = format!("{}/excluded_dir", root.display());

    // Patterns: plain, absolute, negated, case-insensitive, from a file.
    let flags = [
        s(&["--exclude", "*.o", "--exclude", &abs_excluded]),
        s(&["--exclude", "*.log", "--exclude", "!important.log"]),
        s(&["--iexclude", "*.TMP"]),
        vec!["--exclude-file".into(), exclude_file.display().to_string()],
    ]
    .concat();
    let opts = ExcludeOptions {
        excludes: vec![
            patterns(&["*.o", &abs_excluded, "*.log", "!important.log"], false),
            patterns(&["*.TMP"], true),
            PatternList::new(read_pattern_file(&exclude_file).unwrap(), false).unwrap(),
        ],
        ..Default::default()
    };
    let kept = check(&repo, &root, &flags, &opts);
    expect(
        &kept,
        &["", "a.txt", "important.log", "sub/deep/z", "nested"],
        &[
            "b.o",
            "debug.log",
            "excluded_dir",
            "sub/x.tmp",
            "sub/deep/Y.TmP",
            "skip_me",
            "nested/skip_me",
        ],
    );

    // Tag files: cache directories, a bare marker, a marker with a header.
    let flags = s(&[
        "--exclude-caches",
        "--exclude-if-present",
        ".nobackup",
        "--exclude-if-present",
        "TAG2:magic",
    ]);
    let opts = ExcludeOptions {
        exclude_caches: true,
        exclude_if_present: vec![".nobackup".into(), "TAG2:magic".into()],
        ..Default::default()
    };
    let kept = check(&repo, &root, &flags, &opts);
    expect(
        &kept,
        &[
            "cache_ok",
            "cache_ok/CACHEDIR.TAG",
            "cache_bad/data",
            "cache_short/data",
            "marked/.nobackup",
            "magic_ok/TAG2",
            "magic_bad/f",
            "magic_empty/f",
        ],
        &[
            "cache_ok/data",
            "cache_ok/sub",
            "marked/f",
            "marked/sub",
            "magic_ok/f",
        ],
    );

    // Sizes.
    let flags = s(&["--exclude-larger-than", "2K"]);
    let opts = ExcludeOptions {
        exclude_larger_than: Some(parse_size("2K").unwrap()),
        ..Default::default()
    };
    let kept = check(&repo, &root, &flags, &opts);
    expect(
        &kept,
        &["sizes", "sizes/exact", "sizes/empty", "sizes/shortlink"],
        &["sizes/over", "sizes/longlink"],
    );

    // A tag file excludes whole sibling subtrees; a walk starting below
    // it (as for a target there) keeps nothing either.
    std::fs::write(root.join("sub/.nobackup"), b"").unwrap();
    let deep = root.join("sub/deep");
    let sn = repo.backup(&root, &["--exclude-if-present", ".nobackup"]);
    let theirs = restic_paths(&repo, &sn, &deep);
    let opts = ExcludeOptions {
        exclude_if_present: vec![".nobackup".into()],
        ..Default::default()
    };
    let ex = Excluder::new(&opts, std::slice::from_ref(&deep)).unwrap();
    assert!(theirs.is_empty());
    assert!(walk(&ex, &deep).is_empty());
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn one_file_system_matches_restic() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("root");
    build_tree(&root);
    let mnt = root.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "cairn-test"])
        .arg(&mnt)
        .output();
    if !matches!(&mounted, Ok(o) if o.status.success()) {
        eprintln!("skipping: cannot mount a tmpfs here ({mounted:?})");
        return;
    }
    let _guard = Mount(mnt.clone());
    std::fs::create_dir(mnt.join("inner")).unwrap();
    std::fs::write(mnt.join("inner/f"), b"f").unwrap();
    std::fs::write(mnt.join("g"), b"g").unwrap();
    let repo = ResticRepo::init();
    let opts = ExcludeOptions {
        one_file_system: true,
        ..Default::default()
    };
    let flags = ["--one-file-system".to_string()];
    // The mount point is kept, its contents are not.
    let kept = check(&repo, &root, &flags, &opts);
    expect(
        &kept,
        &["mnt", "a.txt", "sub/deep/z"],
        &["mnt/g", "mnt/inner"],
    );
    // A target on the other file system is backed up whole.
    let kept = check(&repo, &mnt, &flags, &opts);
    expect(&kept, &["", "g", "inner", "inner/f"], &[]);
}

#[test]
fn device_map_with_synthetic_devices() {
    let devices = DeviceMap {
        devices: [
            (b"/a".to_vec(), 1),
            (b"/a/b/c".to_vec(), 2),
            (b"/".to_vec(), 9),
        ]
        .into_iter()
        .collect(),
    };
    assert_eq!(devices.is_allowed(b"/a", 1), Some(true));
    assert_eq!(devices.is_allowed(b"/a/x/y", 1), Some(true));
    assert_eq!(devices.is_allowed(b"/a/x/y", 2), Some(false));
    assert_eq!(devices.is_allowed(b"/a/b/c/d", 2), Some(true));
    assert_eq!(devices.is_allowed(b"/a/b/c/d", 1), Some(false));
    assert_eq!(devices.is_allowed(b"/z", 9), Some(true));
    let none = DeviceMap {
        devices: [(b"/a".to_vec(), 1)].into_iter().collect(),
    };
    assert_eq!(none.is_allowed(b"/b", 1), None);
    assert_eq!(parent_of(b"/a/b"), b"/a");
    assert_eq!(parent_of(b"/a"), b"/");
    assert_eq!(parent_of(b"/"), b"/");
}

#[test]
fn size_syntax() {
    assert_eq!(parse_size("0").unwrap(), 0);
    assert_eq!(parse_size("100").unwrap(), 100);
    assert_eq!(parse_size("100b").unwrap(), 100);
    assert_eq!(parse_size("100B").unwrap(), 100);
    assert_eq!(parse_size("+3k").unwrap(), 3 << 10);
    assert_eq!(parse_size("2K").unwrap(), 2048);
    assert_eq!(parse_size("5m").unwrap(), 5 << 20);
    assert_eq!(parse_size("1G").unwrap(), 1 << 30);
    assert_eq!(parse_size("2t").unwrap(), 2 << 40);
    assert_eq!(parse_size("8388607T").unwrap(), 8_388_607u64 << 40);
    for bad in [
        "",
        "k",
        "1.5G",
        "1 G",
        "1KB",
        "1KiB",
        "0x10",
        "1_000",
        "-1",
        "8388608T",
        "99999999999999999999",
    ] {
        assert!(parse_size(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn tag_file_specs() {
    let parse = |s: &str| TagFile::parse(s).map(|t| (t.name, t.header));
    assert_eq!(parse("x").unwrap(), (b"x".to_vec(), vec![]));
    assert_eq!(parse("x:a:b").unwrap(), (b"x".to_vec(), b"a:b".to_vec()));
    assert_eq!(parse("x:").unwrap(), (b"x".to_vec(), vec![]));
    assert!(parse("").is_err());
    assert!(parse(":hdr").is_err());
    let ex = Excluder::new(
        &ExcludeOptions {
            exclude_if_present: vec![":x".into()],
            ..Default::default()
        },
        &[],
    );
    assert!(ex.is_err());
}
