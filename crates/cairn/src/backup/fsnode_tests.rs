//! [`node_from_metadata`] against the real restic: a temporary tree with
//! every kind of entry is backed up with `/usr/bin/restic` (0.14), and for
//! every node restic wrote, the node Cairn builds from the same path must
//! be identical, and so must the serialized tree blobs, byte for byte.
//! Requires restic (CI installs it) and root (for `mknod` and `chown`);
//! fails loudly when either is missing.
//!
//! restic 0.14 stores a link target that is not valid UTF-8 lossily (U+FFFD
//! for each bad byte, no `linktarget_raw`); for such symlinks the lossy
//! form is checked and then restic's value is used for the comparison.

use super::*;
use cairn_format::{Id, Tree};
use filetime::FileTime;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

pub(crate) const RESTIC: &str = "/usr/bin/restic";
const PASSWORD: &str = "cairn-test";

/// A temporary repository driven through the restic binary.
pub(crate) struct ResticRepo {
    dir: tempfile::TempDir,
}

impl ResticRepo {
    /// Creates the repository (`restic init`).
    pub(crate) fn init() -> ResticRepo {
        assert!(
            Path::new(RESTIC).exists(),
            "{RESTIC} is required for this test (install restic 0.14, e.g. apt-get install restic)"
        );
        let repo = ResticRepo {
            dir: tempfile::tempdir().unwrap(),
        };
        repo.run(&[OsStr::new("init")]);
        repo
    }

    /// Runs restic on this repository; panics with its stderr on failure.
    pub(crate) fn run(&self, args: &[&OsStr]) -> Vec<u8> {
        let out = Command::new(RESTIC)
            .arg("-r")
            .arg(self.dir.path().join("repo"))
            .arg("--no-cache")
            .args(args)
            .env("RESTIC_PASSWORD", PASSWORD)
            .env_remove("RESTIC_REPOSITORY")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "restic {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Backs up `target` with extra `flags`; returns the snapshot ID.
    pub(crate) fn backup(&self, target: &Path, flags: &[&str]) -> String {
        let mut args: Vec<&OsStr> = vec![OsStr::new("backup"), OsStr::new("--json")];
        args.extend(flags.iter().map(OsStr::new));
        args.push(target.as_os_str());
        let out = self.run(&args);
        let last = out
            .split(|&c| c == b'\n')
            .rfind(|l| !l.is_empty())
            .expect("restic backup printed nothing");
        let summary: serde_json::Value = serde_json::from_slice(last).unwrap();
        summary["snapshot_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no snapshot_id in {summary}"))
            .to_string()
    }

    /// The raw (plaintext) bytes of tree blob `id`.
    pub(crate) fn tree_bytes(&self, id: &Id) -> Vec<u8> {
        self.run(&[
            OsStr::new("cat"),
            OsStr::new("blob"),
            OsStr::new(&id.to_hex()),
        ])
    }

    /// The ID of the tree for directory `dir` (absolute) in `snapshot`.
    pub(crate) fn tree_of(&self, snapshot: &str, dir: &Path) -> Id {
        let sn = self.run(&[
            OsStr::new("cat"),
            OsStr::new("snapshot"),
            OsStr::new(snapshot),
        ]);
        let sn: serde_json::Value = serde_json::from_slice(&sn).unwrap();
        let mut id = Id::from_hex(sn["tree"].as_str().unwrap()).unwrap();
        for comp in dir.components().skip(1) {
            let tree = Tree::from_json(&self.tree_bytes(&id)).unwrap();
            let name = comp.as_os_str().as_bytes();
            let node = tree.nodes.iter().find(|n| n.name == name);
            id = node
                .and_then(|n| n.subtree)
                .unwrap_or_else(|| panic!("no directory {comp:?} in the snapshot"));
        }
        id
    }
}

const SUMMER_2021: i64 = 1_625_140_800; // 2021-07-01T12:00:00Z

/// Builds a tree with every kind of entry restic records. Returns the
/// entry names whose kind must show up in restic's tree.
fn build_tree(root: &Path) {
    let p = |s: &[u8]| root.join(OsStr::from_bytes(s));
    let sh = |cmd: &str, args: &[&OsStr]| {
        let st = Command::new(cmd).args(args).status().unwrap();
        assert!(st.success(), "{cmd} {args:?} failed (are we root?)");
    };
    std::fs::create_dir(root).unwrap();
    std::fs::write(p(b"a.txt"), b"hello world\n").unwrap();
    std::fs::write(p(b"empty"), b"").unwrap();
    std::fs::write(p(b"caf\xe9"), b"latin-1 name").unwrap();
    std::fs::write(p(b"a\tb \"q\" \\"), b"odd name").unwrap();
    std::fs::write(p("ü-名 x".as_bytes()), b"unicode").unwrap();
    for (name, mode) in [
        (&b"setuid"[..], 0o4755),
        (b"setgid", 0o2750),
        (b"ro", 0o444),
    ] {
        std::fs::write(p(name), b"x").unwrap();
        std::fs::set_permissions(p(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    for (name, mode) in [
        (&b"sticky"[..], 0o1777),
        (b"private", 0o700),
        (b"sgid-dir", 0o2775),
    ] {
        std::fs::create_dir(p(name)).unwrap();
        std::fs::set_permissions(p(name), std::fs::Permissions::from_mode(mode)).unwrap();
    }
    std::fs::write(p(b"private/inner"), vec![7u8; 100_000]).unwrap();
    std::fs::create_dir_all(p(b"deep/er/est")).unwrap();
    std::fs::write(p(b"deep/er/est/leaf"), b"leaf").unwrap();
    std::fs::hard_link(p(b"a.txt"), p(b"hard")).unwrap();
    std::os::unix::fs::symlink("a.txt", p(b"link")).unwrap();
    std::os::unix::fs::symlink(OsStr::from_bytes(b"/nowhere/\xff\xfe-x"), p(b"badlink")).unwrap();
    std::os::unix::fs::symlink("deep/er", p(b"dirlink")).unwrap();
    sh("mkfifo", &[p(b"fifo").as_os_str()]);
    sh(
        "mknod",
        &["-m", "0620"]
            .map(OsStr::new)
            .into_iter()
            .chain([p(b"null").as_os_str()])
            .chain(["c", "1", "3"].map(OsStr::new))
            .collect::<Vec<_>>(),
    );
    sh(
        "mknod",
        &["-m", "0660"]
            .map(OsStr::new)
            .into_iter()
            .chain([p(b"loop").as_os_str()])
            .chain(["b", "7", "42"].map(OsStr::new))
            .collect::<Vec<_>>(),
    );
    drop(std::os::unix::net::UnixListener::bind(p(b"sock")).unwrap());
    // Ownership: known, unknown and another known ID (chown clears setuid,
    // hence before the chmod below).
    std::os::unix::fs::chown(p(b"empty"), Some(12_345), Some(54_321)).unwrap();
    std::os::unix::fs::lchown(p(b"link"), Some(65_534), Some(65_534)).unwrap();
    std::os::unix::fs::chown(p(b"ro"), Some(65_534), None).unwrap();
    std::fs::set_permissions(p(b"ro"), std::fs::Permissions::from_mode(0o4444)).unwrap();
    // Extended attributes, including binary and empty values; restic skips
    // those of symlinks.
    xattr::set(p(b"a.txt"), "user.comment", b"hello").unwrap();
    xattr::set(p(b"a.txt"), "user.binary", &[0, 0xff, 1, 0x80, b'"']).unwrap();
    xattr::set(p(b"a.txt"), "user.empty", b"").unwrap();
    xattr::set(p(b"sticky"), "user.dir", b"on a dir").unwrap();
    xattr::set(p(b"fifo"), "trusted.cairn", b"fifo").unwrap();
    xattr::set(p(b"link"), "trusted.cairn", b"symlink").unwrap();

    // Times last: nanoseconds, daylight saving, before 1970, before the
    // first zone transition of most zones, after the last listed one.
    let atime = FileTime::from_unix_time(FileTime::now().unix_seconds() + 86_400, 5);
    let special: &[(&[u8], i64, u32)] = &[
        (b"a.txt", SUMMER_2021, 123_456_789),
        (b"empty", 1_610_000_000, 1),
        (b"setuid", -1_000_000_000, 500_000_000),
        (b"setgid", -2_500_000_000, 0),
        (b"ro", -1, 999_999_999),
        (b"caf\xe9", 0, 0),
        (b"fifo", 4_110_000_000, 42),
        (b"sticky", 4_120_000_000, 0),
    ];
    let mut all = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        all.push(dir.clone());
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                all.push(e.path());
            }
        }
    }
    for (i, path) in all.iter().enumerate() {
        let name = path.file_name().unwrap().as_bytes();
        let (secs, nanos) = special
            .iter()
            .find(|s| s.0 == name)
            .map(|s| (s.1, s.2))
            .unwrap_or((1_650_000_000 + i as i64 * 7_777_777, 987_654_321 - i as u32));
        let mtime = FileTime::from_unix_time(secs, nanos);
        filetime::set_symlink_file_times(path, atime, mtime).unwrap();
    }
}

/// Times as they come back from their JSON form. restic's JSON keeps only
/// whole minutes of a zone offset: a local mean time such as -03:30:52
/// (St. John's before 1935) prints as -03:30 next to a wall clock computed
/// with the full offset, so the parsed instant moves by the lost seconds.
fn normalized(n: &Node) -> Node {
    let mut n = n.clone();
    for t in [&mut n.mtime, &mut n.atime, &mut n.ctime] {
        *t = GoTime::parse(&t.to_rfc3339_nano()).unwrap();
    }
    n
}

/// Compares restic's tree `id` for directory `dir` with Cairn's nodes for
/// the same entries, recursively. Returns the types seen.
fn compare_dir(
    repo: &ResticRepo,
    dir: &Path,
    id: &Id,
    opts: &NodeOptions,
    seen: &mut Vec<NodeType>,
) {
    let raw = repo.tree_bytes(id);
    let theirs = Tree::from_json(&raw).unwrap();
    let mut ours = Tree::default();
    for t in &theirs.nodes {
        let path = dir.join(OsStr::from_bytes(&t.name));
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mut n = node_from_metadata(&path, &t.name, &meta, opts).unwrap();
        assert_eq!(
            n.content.as_ref().map(Vec::len),
            (t.node_type == NodeType::File).then_some(0)
        );
        assert_eq!(n.subtree, None);
        n.content = t.content.clone();
        n.subtree = t.subtree;
        // restic 0.14 writes invalid UTF-8 in link targets as U+FFFD and
        // has no `linktarget_raw`: compare the lossy form, and the JSON
        // without that field.
        let mut compared = n.clone();
        if std::str::from_utf8(&n.link_target).is_err() {
            let lossy = String::from_utf8_lossy(&n.link_target).into_owned();
            compared.link_target = lossy.into_bytes();
        }
        assert_eq!(normalized(&compared), normalized(t), "node for {path:?}");
        if !seen.contains(&t.node_type) {
            seen.push(t.node_type.clone());
        }
        if let (NodeType::Dir, Some(sub)) = (&t.node_type, &t.subtree) {
            compare_dir(repo, &path, sub, opts, seen);
        }
        ours.nodes.push(n);
    }
    let json = without_linktarget_raw(&ours.to_json());
    assert_eq!(
        String::from_utf8_lossy(&json),
        String::from_utf8_lossy(&raw),
        "tree JSON for {dir:?}"
    );
    assert_eq!(Id::hash(&json), *id);
}

/// `json` with every `"linktarget_raw"` member removed (restic 0.14 does
/// not write it).
fn without_linktarget_raw(json: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b",\"linktarget_raw\":\"";
    let mut out = Vec::with_capacity(json.len());
    let mut rest = json;
    while let Some(i) = rest.windows(KEY.len()).position(|w| w == KEY) {
        out.extend_from_slice(&rest[..i]);
        let after = &rest[i + KEY.len()..];
        let end = after.iter().position(|&c| c == b'"').unwrap();
        rest = &after[end + 1..];
    }
    out.extend_from_slice(rest);
    out
}

/// Backs up a fresh tree with restic and compares every node.
fn compare_with_restic(opts: &NodeOptions) {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().canonicalize().unwrap();
    let root = base.join("root");
    build_tree(&root);
    let repo = ResticRepo::init();
    let flags: &[&str] = if opts.with_atime {
        &["--with-atime"]
    } else {
        &[]
    };
    let sn = repo.backup(&root, flags);
    // The tree of `base` holds just the node of `root`.
    let id = repo.tree_of(&sn, &base);
    let mut seen = Vec::new();
    compare_dir(&repo, &base, &id, opts, &mut seen);
    use NodeType::*;
    for t in [File, Dir, Symlink, Dev, Chardev, Fifo] {
        assert!(seen.contains(&t), "restic recorded no {t} node");
    }
    // restic's archiver leaves sockets out (as excluded); so must Cairn's.
    assert!(!seen.contains(&Socket));
}

#[test]
fn matches_restic() {
    compare_with_restic(&NodeOptions::default());
}

#[test]
fn matches_restic_with_atime() {
    compare_with_restic(&NodeOptions { with_atime: true });
}

const TZ_CHILD: &str = "CAIRN_FSNODE_TZ_CHILD";

/// Re-runs this test binary with `TZ` set, so that both restic and the C
/// library's `localtime_r` in the child see the zone.
#[test]
fn matches_restic_in_other_zones() {
    if let Some(tz) = std::env::var_os(TZ_CHILD) {
        let expected = match tz.to_str() {
            Some("Europe/Berlin") => 7200,
            Some("America/St_Johns") => -9000,
            _ => unreachable!(),
        };
        // Proves the zone is in effect here, not just in restic.
        assert_eq!(local_time(SUMMER_2021, 0).offset_secs, expected);
        compare_with_restic(&NodeOptions::default());
        return;
    }
    let module = module_path!().split_once("::").unwrap().1;
    let name = format!("{module}::matches_restic_in_other_zones");
    for tz in ["Europe/Berlin", "America/St_Johns"] {
        assert!(
            Path::new("/usr/share/zoneinfo").join(tz).exists(),
            "time zone data is required for this test (install tzdata)"
        );
        let out = Command::new(std::env::current_exe().unwrap())
            .args([&name, "--exact", "--nocapture", "--test-threads=1"])
            .env("TZ", tz)
            .env(TZ_CHILD, tz)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "in TZ={tz}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn unchanged_rule() {
    let t = |s: i64, n: u32, o: i32| GoTime {
        unix_secs: s,
        nanos: n,
        offset_secs: o,
    };
    let mut old = Node::new(b"f".to_vec(), NodeType::File);
    old.size = 10;
    old.mtime = t(100, 5, 0);
    old.ctime = t(200, 6, 0);
    old.inode = 7;
    let mut new = old.clone();
    // Offsets and everything else (mode, owner, xattrs...) do not matter.
    new.mtime.offset_secs = 3600;
    new.mode = 0o600;
    new.uid = 1;
    assert!(is_unchanged(&old, &new, false, false));
    let changed = |f: &dyn Fn(&mut Node)| {
        let mut n = new.clone();
        f(&mut n);
        n
    };
    assert!(!is_unchanged(&old, &changed(&|n| n.size = 11), true, true));
    assert!(!is_unchanged(
        &old,
        &changed(&|n| n.mtime.nanos = 6),
        true,
        true
    ));
    let ctime = changed(&|n| n.ctime = t(200, 7, 0));
    assert!(!is_unchanged(&old, &ctime, false, false));
    assert!(is_unchanged(&old, &ctime, false, true));
    let inode = changed(&|n| n.inode = 8);
    assert!(!is_unchanged(&old, &inode, false, false));
    assert!(is_unchanged(&old, &inode, true, false));
    let dir = changed(&|n| n.node_type = NodeType::Dir);
    assert!(!is_unchanged(&old, &dir, true, true));
    assert!(!is_unchanged(&dir, &old, true, true));
}

#[test]
fn names_are_looked_up_and_cached() {
    assert_eq!(user_name(0), "root");
    assert_eq!(group_name(0), "root");
    assert_eq!(user_name(0), "root");
    assert_eq!(user_name(3_999_999_999), "");
    assert_eq!(group_name(3_999_999_999), "");
}

#[test]
fn file_node_basics() {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("f");
    std::fs::write(&path, b"12345").unwrap();
    let meta = std::fs::symlink_metadata(&path).unwrap();
    let n = node_from_metadata(&path, b"f", &meta, &NodeOptions::default()).unwrap();
    assert_eq!(n.node_type, NodeType::File);
    assert_eq!((n.size, n.links, n.content.clone()), (5, 1, Some(vec![])));
    assert_eq!(n.atime, n.mtime);
    let d = node_from_metadata(
        dir.path(),
        b"d",
        &std::fs::symlink_metadata(dir.path()).unwrap(),
        &NodeOptions::default(),
    )
    .unwrap();
    assert_eq!((d.size, d.links, d.content), (0, 0, None));
    let sock = dir.path().join("s");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let meta = std::fs::symlink_metadata(&sock).unwrap();
    let s = node_from_metadata(&sock, b"s", &meta, &NodeOptions::default()).unwrap();
    assert_eq!(
        (s.node_type, s.links, s.content),
        (NodeType::Socket, 0, None)
    );
    assert_eq!(
        s.mode & cairn_format::mode::SOCKET,
        cairn_format::mode::SOCKET
    );
}
