//! Restores of hostile or odd snapshots into hostile targets: duplicate
//! names, symlinks planted in the target, a symlink where the snapshot has
//! a directory, deep trees. Nothing outside the target may change.

use super::tests::{dir, file, node, time, Fake};
use super::*;
use crate::testing::fingerprint_tree;
use cairn_format::{mode, Node};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

/// A directory outside the target with a file and a subdirectory.
struct Outside {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    before: Vec<(PathBuf, String)>,
}

impl Outside {
    fn new(file_content: &[u8]) -> Outside {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outside");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("victim"), file_content).unwrap();
        std::fs::write(dir.join("inner"), file_content).unwrap();
        std::fs::create_dir(dir.join("vdir")).unwrap();
        for p in ["victim", "inner", "vdir"] {
            let p = dir.join(p);
            filetime::set_symlink_file_times(
                &p,
                filetime::FileTime::from_unix_time(1_000_000, 0),
                filetime::FileTime::from_unix_time(1_000_000, 0),
            )
            .unwrap();
        }
        std::fs::set_permissions(dir.join("victim"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let mut o = Outside {
            _tmp: tmp,
            dir,
            before: Vec::new(),
        };
        o.before = o.now();
        o
    }

    fn now(&self) -> Vec<(PathBuf, String)> {
        fingerprint_tree(&self.dir)
    }

    fn assert_unchanged(&self, what: &str) {
        assert_eq!(self.now(), self.before, "outside changed: {what}");
    }
}

fn opts(target: &Path) -> RestoreOptions {
    RestoreOptions {
        target: target.to_path_buf(),
        ..RestoreOptions::default()
    }
}

fn symlink(name: &[u8], to: &Path) -> Node {
    let mut n = node(name, NodeType::Symlink, 0o777);
    n.link_target = to.as_os_str().as_bytes().to_vec();
    n
}

#[test]
fn duplicate_names_are_refused_and_the_rest_restored() {
    let outside = Outside::new(b"victim");
    let mut fake = Fake::default();
    let ids = fake.blobs(&[b"evil", b"fine"], 2);
    let mut suid = file(b"f", vec![ids[0]], &[b"evil"]);
    suid.mode = mode::SETUID | 0o777;
    let inner = fake.tree(vec![file(b"x", vec![ids[0]], &[b"evil"])]);
    let mut open_dir = dir(b"d", inner);
    open_dir.mode = mode::DIR | 0o777;
    let nested = fake.tree(vec![
        file(b"g", vec![ids[0]], &[b"evil"]),
        dir(b"g", inner),
        file(b"ok", vec![ids[1]], &[b"fine"]),
    ]);
    // Trees hold their nodes as given (a hostile tree need not be sorted).
    let nodes = vec![
        symlink(b"f", &outside.dir.join("victim")),
        suid,
        symlink(b"d", &outside.dir.join("vdir")),
        open_dir,
        dir(b"n", nested),
        file(b"ok", vec![ids[1]], &[b"fine"]),
    ];
    let tree = Tree { nodes };
    let root = tree.id();
    fake.trees.insert(root, tree);

    for overwrite in [Overwrite::Always, Overwrite::Never] {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        let mut o = opts(&t);
        o.overwrite = overwrite;
        let s = fake.restore(&root, &o);
        let mut refused: Vec<(Vec<u8>, String)> = s
            .errors
            .iter()
            .map(|e| (e.location.clone(), e.to_string()))
            .collect();
        refused.sort();
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert_eq!(refused[0].0, b"/d");
        assert_eq!(refused[1].0, b"/f");
        assert_eq!(refused[2].0, b"/n/g");
        assert!(refused[1].1.contains(&root.to_hex()), "{}", refused[1].1);
        assert!(refused[1].1.contains("\"f\""), "{}", refused[1].1);
        for name in ["f", "d", "n/g"] {
            assert!(std::fs::symlink_metadata(t.join(name)).is_err(), "{name}");
        }
        assert_eq!(std::fs::read(t.join("ok")).unwrap(), b"fine");
        assert_eq!(std::fs::read(t.join("n/ok")).unwrap(), b"fine");
        outside.assert_unchanged("duplicates");
    }
}

/// The snapshot used against planted symlinks: a directory `dirlink`
/// holding `inner` (whose first blob equals the outside file `inner`), a
/// file `filelink`, a directory `deep` holding a directory `dl`, a FIFO
/// `pipe` and a hard link `h2` to `filelink`.
fn planted_snapshot(fake: &mut Fake, first: &[u8]) -> Id {
    let ids = fake.blobs(&[first, b"-second", b"new"], 3);
    let inner = fake.tree(vec![file(
        b"inner",
        vec![ids[0], ids[1]],
        &[first, b"-second"],
    )]);
    let dl = fake.tree(vec![file(b"victim", vec![ids[2]], &[b"new"])]);
    let deep = fake.tree(vec![dir(b"dl", dl)]);
    let mut f = file(b"filelink", vec![ids[2]], &[b"new"]);
    let mut h = f.clone();
    h.name = b"h2".to_vec();
    for n in [&mut f, &mut h] {
        (n.links, n.inode, n.device_id) = (2, 9, 9);
    }
    let mut dirlink = dir(b"dirlink", inner);
    dirlink.mode = mode::DIR | 0o777;
    fake.tree(vec![
        dirlink,
        f,
        dir(b"deep", deep),
        node(b"pipe", NodeType::Fifo, 0o666),
        h,
    ])
}

fn plant(t: &Path, outside: &Path) {
    std::fs::create_dir_all(t.join("deep")).unwrap();
    let link = |to: &str, at: &str| std::os::unix::fs::symlink(outside.join(to), t.join(at));
    link("", "dirlink").unwrap();
    link("victim", "filelink").unwrap();
    link("", "deep/dl").unwrap();
    link("victim", "pipe").unwrap();
    link("victim", "h2").unwrap();
    link("vdir", "extra").unwrap();
}

#[test]
fn planted_symlinks_redirect_nothing_in_any_mode() {
    let first = b"first blob of inner";
    let outside = Outside::new(first);
    let mut fake = Fake::default();
    let root = planted_snapshot(&mut fake, first);
    let modes = [
        Overwrite::Always,
        Overwrite::IfChanged,
        Overwrite::IfNewer,
        Overwrite::Never,
    ];
    for overwrite in modes {
        for delete in [false, true] {
            let what = format!("{overwrite} delete={delete}");
            let tmp = tempfile::tempdir().unwrap();
            let t = tmp.path().join("t");
            plant(&t, &outside.dir);
            let mut o = opts(&t);
            (o.overwrite, o.delete) = (overwrite, delete);
            let s = fake.restore(&root, &o);
            assert!(s.errors.is_empty(), "{what}: {:?}", s.errors);
            outside.assert_unchanged(&what);

            // Directories replace the links, and what is in them is new.
            let inner = t.join("dirlink/inner");
            assert!(std::fs::symlink_metadata(t.join("dirlink"))
                .unwrap()
                .is_dir());
            let want = [first.as_slice(), b"-second"].concat();
            assert_eq!(std::fs::read(&inner).unwrap(), want, "{what}");
            assert_eq!(std::fs::read(t.join("deep/dl/victim")).unwrap(), b"new");
            let m = std::fs::metadata(t.join("dirlink")).unwrap();
            assert_eq!(m.mode() & 0o7777, 0o777, "{what}");

            // Entries in place of links: replaced unless the policy keeps
            // what is there; a kept link is still a link.
            let replaced = matches!(overwrite, Overwrite::Always | Overwrite::IfChanged);
            for name in ["filelink", "pipe", "h2"] {
                let m = std::fs::symlink_metadata(t.join(name)).unwrap();
                assert_eq!(!m.file_type().is_symlink(), replaced, "{what}: {name}");
            }
            if replaced {
                assert_eq!(std::fs::read(t.join("filelink")).unwrap(), b"new");
                let (a, b) = (
                    std::fs::metadata(t.join("filelink")).unwrap(),
                    std::fs::metadata(t.join("h2")).unwrap(),
                );
                assert_eq!(a.ino(), b.ino(), "{what}");
            }
            // --delete removes the extra link itself.
            assert_eq!(std::fs::symlink_metadata(t.join("extra")).is_ok(), !delete);
        }
    }
}

/// The target has `src -> /other` where the snapshot has a directory
/// `src`, and `/other/victim` holds the first blob of the snapshot's
/// `src/victim`: that blob is not "already in place" (the link is
/// replaced by a new directory), and with `never` the file is not
/// "already there" either.
#[test]
fn a_symlink_in_place_of_a_directory_is_not_existing_content() {
    let blob1 = vec![b'1'; 3000];
    let blob2 = vec![b'2'; 3000];
    let outside = Outside::new(&blob1);
    let mut fake = Fake::default();
    let ids = fake.blobs(&[&blob1, &blob2], 2);
    let src = fake.tree(vec![file(b"victim", ids.clone(), &[&blob1, &blob2])]);
    let root = fake.tree(vec![dir(b"src", src)]);
    for overwrite in [Overwrite::Always, Overwrite::IfChanged, Overwrite::Never] {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("t");
        std::fs::create_dir(&t).unwrap();
        std::os::unix::fs::symlink(&outside.dir, t.join("src")).unwrap();
        let mut o = opts(&t);
        o.overwrite = overwrite;
        let s = fake.restore(&root, &o);
        assert!(s.errors.is_empty(), "{:?}", s.errors);
        assert_eq!(s.files, 1, "{overwrite}");
        assert_eq!(s.bytes_written, 6000, "{overwrite}");
        let got = std::fs::read(t.join("src/victim")).unwrap();
        assert!(got == [blob1.as_slice(), &blob2].concat(), "{overwrite}");
        outside.assert_unchanged("symlinked dir");
    }
}

/// A file with further hard links is replaced, so the blobs it has are
/// not in place in the file that is kept.
#[test]
fn blobs_of_a_hard_linked_file_are_not_in_place() {
    let blob1 = vec![b'a'; 100];
    let blob2 = vec![b'b'; 100];
    let mut fake = Fake::default();
    let ids = fake.blobs(&[&blob1, &blob2], 2);
    let root = fake.tree(vec![file(b"f", ids, &[&blob1, &blob2])]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    std::fs::create_dir(&t).unwrap();
    std::fs::write(t.join("f"), &blob1).unwrap();
    std::fs::hard_link(t.join("f"), tmp.path().join("other")).unwrap();
    let s = fake.restore(&root, &opts(&t));
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(
        std::fs::read(t.join("f")).unwrap(),
        [blob1.as_slice(), &blob2].concat()
    );
    assert_eq!(std::fs::read(tmp.path().join("other")).unwrap(), blob1);
}

/// A chain of `depth` directories named `d`, with a file at the bottom.
fn chain(fake: &mut Fake, depth: usize) -> Id {
    let ids = fake.blobs(&[b"bottom"], 1);
    let mut tree = fake.tree(vec![file(b"f", ids, &[b"bottom"])]);
    for level in (0..depth).rev() {
        let mut d = dir(b"d", tree);
        d.mtime = time(1_500_000_000 + level as i64, 0);
        tree = fake.tree(vec![d]);
    }
    tree
}

#[test]
fn ten_thousand_levels_restore() {
    const DEPTH: usize = 10_000;
    let mut fake = Fake::default();
    let root = chain(&mut fake, DEPTH);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("t");
    let mut o = opts(&t);
    o.delete = true;
    let s = fake.restore(&root, &o);
    assert!(
        s.errors.is_empty(),
        "{:?}",
        &s.errors[..s.errors.len().min(3)]
    );
    assert_eq!((s.dirs, s.files), (DEPTH as u64, 1));
    // Walk down by descriptor: the path is longer than PATH_MAX.
    let mut d = sys::open_root(&t).unwrap();
    for level in 0..DEPTH {
        let st = sys::stat_at(&d, b"d").unwrap().unwrap();
        assert_eq!(st.st_mtime, 1_500_000_000 + level as i64);
        d = sys::open_dir_at(&d, b"d").unwrap();
    }
    let f = sys::open_file_at(&d, b"f", rustix::fs::OFlags::RDONLY, 0).unwrap();
    assert_eq!(std::io::read_to_string(f).unwrap(), "bottom");

    // Again over the restored tree: everything is unchanged.
    let s = fake.restore(&root, &o);
    assert!(
        s.errors.is_empty(),
        "{:?}",
        &s.errors[..s.errors.len().min(3)]
    );
    assert_eq!((s.unchanged, s.deleted), (1, 0));
    // TempDir's cleanup would run out of descriptors this deep.
    let top = sys::open_root(tmp.path()).unwrap();
    sys::remove_tree_at(&top, b"t", true, &mut |_| {}).unwrap();
}
