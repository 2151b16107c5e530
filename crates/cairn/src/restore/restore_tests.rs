//! End-to-end restores from an in-memory fake repository (plaintext packs,
//! real trees), checked on the real file system.

use super::*;
use crate::index::BlobLocation;
use crate::NoProgress;
use cairn_format::{mode, GoTime, Node};
use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A repository in memory: blobs stored as plaintext in packs.
#[derive(Default)]
pub(crate) struct Fake {
    pub packs: HashMap<Id, Vec<u8>>,
    pub index: HashMap<Id, BlobLocation>,
    pub trees: HashMap<Id, Tree>,
    /// Blobs whose stored bytes are damaged.
    pub damaged: HashSet<Id>,
    /// Blobs whose decoding returns wrong bytes without noticing.
    pub lying: HashSet<Id>,
    pub reads: AtomicUsize,
    /// How long each pack read takes.
    pub read_delay: std::time::Duration,
    open_pack: Vec<u8>,
}

impl Fake {
    /// Stores data blobs, `per_pack` to a pack; returns their IDs.
    pub(crate) fn blobs(&mut self, chunks: &[&[u8]], per_pack: usize) -> Vec<Id> {
        let mut ids = Vec::new();
        for group in chunks.chunks(per_pack.max(1)) {
            let mut pack = std::mem::take(&mut self.open_pack);
            let mut locs = Vec::new();
            for c in group {
                let id = Id::hash(c);
                ids.push(id);
                if self.index.contains_key(&id) || locs.iter().any(|(i, _, _)| *i == id) {
                    continue;
                }
                locs.push((id, pack.len() as u64, c.len() as u32));
                pack.extend_from_slice(c);
            }
            pack.extend_from_slice(b"header");
            let pack_id = Id::hash(&pack);
            for (id, offset, length) in locs {
                let loc = BlobLocation {
                    id,
                    blob_type: BlobType::Data,
                    pack: pack_id,
                    offset,
                    length,
                    uncompressed_length: Some(length),
                };
                self.index.insert(id, loc);
            }
            self.packs.insert(pack_id, pack);
        }
        ids
    }

    /// Stores a tree; returns its ID.
    pub(crate) fn tree(&mut self, mut nodes: Vec<Node>) -> Id {
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let tree = Tree { nodes };
        let id = tree.id();
        self.trees.insert(id, tree);
        id
    }

    pub(crate) fn load(&self, id: &Id) -> Result<Tree> {
        self.trees.get(id).cloned().ok_or(Error::BlobNotFound {
            blob_type: BlobType::Tree,
            id: *id,
        })
    }

    pub(crate) fn restore(&self, root: &Id, opts: &RestoreOptions) -> RestoreSummary {
        self.restore_with(root, opts, &NoProgress)
    }

    pub(crate) fn restore_with(
        &self,
        root: &Id,
        opts: &RestoreOptions,
        p: &dyn RestoreProgress,
    ) -> RestoreSummary {
        self.restore_until(root, opts, p, &|| false).unwrap()
    }

    /// A restore that `stop` may interrupt.
    pub(crate) fn restore_until(
        &self,
        root: &Id,
        opts: &RestoreOptions,
        p: &dyn RestoreProgress,
        stop: Stop<'_>,
    ) -> Result<RestoreSummary> {
        let load = |id: &Id| self.load(id);
        let len = |id: &Id| self.index.get(id).map(|l| l.plain_length());
        run(self, &load, &len, root, opts, p, stop)
    }
}

impl BlobSource for Fake {
    fn lookup(&self, id: &Id) -> Option<BlobLocation> {
        self.index.get(id).copied()
    }
    fn read_range(&self, pack: &Id, offset: u64, length: u64) -> Result<Vec<u8>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.read_delay);
        let p = self
            .packs
            .get(pack)
            .ok_or(Error::InvalidArgument("no pack".into()))?;
        Ok(p[offset as usize..(offset + length) as usize].to_vec())
    }
    fn decode(&self, loc: &BlobLocation, mut stored: Vec<u8>) -> Result<Vec<u8>> {
        if self.lying.contains(&loc.id) {
            stored[0] ^= 1;
            return Ok(stored);
        }
        if self.damaged.contains(&loc.id) || Id::hash(&stored) != loc.id {
            return Err(Error::BadBlob {
                pack: loc.pack,
                blob_type: BlobType::Data,
                id: loc.id,
                reason: "ciphertext verification failed".into(),
            });
        }
        Ok(stored)
    }
    fn load_any_copy(&self, id: &Id) -> Result<Vec<u8>> {
        Err(Error::BlobNotFound {
            blob_type: BlobType::Data,
            id: *id,
        })
    }
}

pub(crate) fn time(secs: i64, nanos: u32) -> GoTime {
    GoTime {
        unix_secs: secs,
        nanos,
        offset_secs: 3600,
    }
}

fn own_ids() -> (u32, u32) {
    let m = std::fs::metadata("/proc/self").unwrap();
    (m.uid(), m.gid())
}

pub(crate) fn node(name: &[u8], t: NodeType, perm: u32) -> Node {
    let mut n = Node::new(name, t.clone());
    let type_bits = match t {
        NodeType::Dir => mode::DIR,
        NodeType::Symlink => mode::SYMLINK,
        NodeType::Fifo => mode::NAMED_PIPE,
        _ => 0,
    };
    n.mode = type_bits | perm;
    n.mtime = time(1_700_000_000, 111_222_333);
    n.atime = time(1_690_000_000, 444_555_666);
    (n.uid, n.gid) = own_ids();
    n
}

pub(crate) fn file(name: &[u8], ids: Vec<Id>, chunks: &[&[u8]]) -> Node {
    let mut n = node(name, NodeType::File, 0o644);
    n.size = chunks.iter().map(|c| c.len() as u64).sum();
    n.content = Some(ids);
    n
}

pub(crate) fn dir(name: &[u8], subtree: Id) -> Node {
    let mut n = node(name, NodeType::Dir, 0o755);
    n.subtree = Some(subtree);
    n
}

fn opts(target: &Path) -> RestoreOptions {
    RestoreOptions {
        target: target.to_path_buf(),
        ..RestoreOptions::default()
    }
}

/// A snapshot with most kinds of content.
fn sample(fake: &mut Fake) -> Id {
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let chunks: [&[u8]; 4] = [b"hello ", &big, b"world", b"hello "];
    let ids = fake.blobs(&chunks, 2);
    let mut f1 = file(b"multi", ids.clone(), &chunks);
    f1.mode = mode::SETGID | 0o750;
    let shared = file(b"shared", vec![ids[0]], &[b"hello "]);
    let empty = file(b"empty", Vec::new(), &[]);
    let mut odd = file(b"caf\xe9 \xff", vec![ids[2]], &[b"world"]);
    odd.mtime = time(1_000_000_000, 999_999_999);
    let mut link = node(b"link", NodeType::Symlink, 0o777);
    link.link_target = b"nowhere/\xfe".to_vec();
    let fifo = node(b"pipe", NodeType::Fifo, 0o640);
    let sock = node(b"sock", NodeType::Socket, 0o755);
    let mut h1 = file(b"hard1", vec![ids[2]], &[b"world"]);
    let mut h2 = h1.clone();
    h2.name = b"hard2".to_vec();
    for h in [&mut h1, &mut h2] {
        (h.links, h.inode, h.device_id) = (2, 77, 5);
    }
    let inner = fake.tree(vec![odd, h2]);
    let mut sub = dir(b"sub", inner);
    sub.mode = mode::DIR | 0o555;
    sub.mtime = time(1_234_567_890, 5);
    fake.tree(vec![f1, shared, empty, link, fifo, sock, h1, sub])
}

#[test]
fn restores_everything_restic_does() {
    let mut fake = Fake::default();
    let root = sample(&mut fake);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("out");
    let s = fake.restore(&root, &opts(&t));
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!((s.files, s.dirs, s.others), (5, 1, 3));

    // Metadata first: reading the file may update its atime.
    let m = std::fs::metadata(t.join("multi")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o2750);
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 111_222_333));
    assert_eq!((m.atime(), m.atime_nsec()), (1_690_000_000, 444_555_666));
    let multi = std::fs::read(t.join("multi")).unwrap();
    assert_eq!(multi.len(), 6 + 300_000 + 5 + 6);
    assert!(multi.starts_with(b"hello ") && multi.ends_with(b"worldhello "));
    assert_eq!(std::fs::read(t.join("shared")).unwrap(), b"hello ");
    assert_eq!(std::fs::metadata(t.join("empty")).unwrap().len(), 0);

    let odd = t
        .join("sub")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9 \xff"));
    assert_eq!(std::fs::read(&odd).unwrap(), b"world");
    assert_eq!(std::fs::metadata(&odd).unwrap().mtime_nsec(), 999_999_999);

    let link = std::fs::symlink_metadata(t.join("link")).unwrap();
    assert!(link.file_type().is_symlink());
    assert_eq!(link.mtime_nsec(), 111_222_333);
    assert_eq!(
        std::fs::read_link(t.join("link"))
            .unwrap()
            .as_os_str()
            .as_bytes(),
        b"nowhere/\xfe"
    );
    assert!(std::fs::symlink_metadata(t.join("pipe"))
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(!t.join("sock").exists());

    let (a, b) = (
        std::fs::metadata(t.join("hard1")).unwrap(),
        std::fs::metadata(t.join("sub/hard2")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);

    // The directory got its times after its contents were complete.
    let sub = std::fs::metadata(t.join("sub")).unwrap();
    assert_eq!((sub.mtime(), sub.mtime_nsec()), (1_234_567_890, 5));
    assert_eq!(sub.mode() & 0o7777, 0o555);
    std::fs::set_permissions(t.join("sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

use std::os::unix::fs::PermissionsExt;

#[test]
fn every_pack_is_read_once_and_shared_blobs_decoded_once() {
    let mut fake = Fake::default();
    let chunks: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1000 + i as usize]).collect();
    let refs: Vec<&[u8]> = chunks.iter().map(|c| c.as_slice()).collect();
    let ids = fake.blobs(&refs, 10);
    let nodes = (0..20)
        .map(|i| {
            let name = format!("f{i}");
            // Each file uses two blobs; every blob is used by several files.
            let pick = [ids[i % 40], ids[(i * 7) % 40]];
            let data = [refs[i % 40], refs[(i * 7) % 40]];
            file(name.as_bytes(), pick.to_vec(), &data)
        })
        .collect();
    let root = fake.tree(nodes);
    let tmp = tempfile::tempdir().unwrap();
    let s = fake.restore(&root, &opts(tmp.path()));
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    let used_packs: HashSet<Id> = (0..20)
        .flat_map(|i| [ids[i % 40], ids[(i * 7) % 40]])
        .map(|id| fake.index[&id].pack)
        .collect();
    assert_eq!(fake.reads.load(Ordering::Relaxed), used_packs.len());
    for i in 0..20 {
        let got = std::fs::read(tmp.path().join(format!("f{i}"))).unwrap();
        assert_eq!(got, [refs[i % 40], refs[(i * 7) % 40]].concat());
    }
}

#[test]
fn a_damaged_blob_is_reported_and_the_rest_restored() {
    let mut fake = Fake::default();
    let ids = fake.blobs(&[b"good", b"bad!", b"fine"], 3);
    fake.damaged.insert(ids[1]);
    // A single-blob file recorded as longer than its blob.
    let mut long = file(b"long", vec![ids[2]], &[b"fine"]);
    long.size = 10;
    let root = fake.tree(vec![
        file(b"a", vec![ids[0], ids[1]], &[b"good", b"bad!"]),
        file(b"b", vec![ids[1]], &[b"bad!"]),
        file(b"c", vec![ids[2], ids[0]], &[b"fine", b"good"]),
        long,
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let s = fake.restore(&root, &opts(tmp.path()));
    assert_eq!(s.errors.len(), 2, "{:?}", s.errors);
    let mut located: Vec<_> = s
        .errors
        .iter()
        .map(|e| (e.location.clone(), e.blob))
        .collect();
    located.sort();
    assert_eq!(
        located,
        vec![
            (b"/a".to_vec(), Some(ids[1])),
            (b"/b".to_vec(), Some(ids[1]))
        ]
    );
    assert!(s.errors[0].to_string().contains(&ids[1].to_hex()));
    assert_eq!(std::fs::read(tmp.path().join("c")).unwrap(), b"finegood");
    assert!(std::fs::read(tmp.path().join("a"))
        .unwrap()
        .starts_with(b"good"));
    // Files keep their recorded length: one whose only blob is damaged
    // (zeros), and one whose blob is shorter than recorded.
    assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), [0; 4]);
    assert_eq!(
        std::fs::read(tmp.path().join("long")).unwrap(),
        b"fine\0\0\0\0\0\0"
    );
}

#[test]
fn verify_catches_wrong_content() {
    let mut fake = Fake::default();
    let ids = fake.blobs(&[b"one", b"two"], 2);
    fake.lying.insert(ids[1]);
    let root = fake.tree(vec![
        file(b"x", vec![ids[0]], &[b"one"]),
        file(b"y", vec![ids[1]], &[b"two"]),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(tmp.path());
    o.verify = true;
    let s = fake.restore(&root, &o);
    assert_eq!(s.verified, 1);
    assert_eq!(s.errors.len(), 1);
    assert_eq!(s.errors[0].location, b"/y");
    assert_eq!(s.errors[0].blob, Some(ids[1]));
}

#[test]
fn includes_create_parents_and_excludes_prune() {
    let mut fake = Fake::default();
    let ids = fake.blobs(&[b"a", b"b"], 2);
    let deep = fake.tree(vec![
        file(b"keep.txt", vec![ids[0]], &[b"a"]),
        file(b"skip.o", vec![ids[1]], &[b"b"]),
    ]);
    let mid = fake.tree(vec![dir(b"deep", deep)]);
    let root = fake.tree(vec![
        dir(b"mid", mid),
        file(b"top.o", vec![ids[1]], &[b"b"]),
    ]);

    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(&tmp.path().join("inc"));
    o.includes = vec![crate::filter::PatternList::new(["*.txt"], false).unwrap()];
    let s = fake.restore(&root, &o);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!((s.files, s.dirs), (1, 0));
    assert!(o.target.join("mid/deep/keep.txt").exists());
    assert!(!o.target.join("mid/deep/skip.o").exists() && !o.target.join("top.o").exists());
    // Unselected parents still get their metadata.
    assert_eq!(
        std::fs::metadata(o.target.join("mid")).unwrap().mtime(),
        1_700_000_000
    );

    let mut o = opts(&tmp.path().join("exc"));
    o.excludes = vec![crate::filter::PatternList::new(["*.O", "/mid/deep/keep*"], true).unwrap()];
    let s = fake.restore(&root, &o);
    assert_eq!((s.files, s.dirs), (0, 2));
    assert!(o.target.join("mid/deep").is_dir());
    assert_eq!(
        std::fs::read_dir(o.target.join("mid/deep"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn overwrite_policies_and_partial_rewrites() {
    let mut fake = Fake::default();
    let a = vec![b'a'; 5000];
    let b = vec![b'b'; 5000];
    let ids = fake.blobs(&[&a, &b], 2);
    let root = fake.tree(vec![file(b"f", ids.clone(), &[&a, &b])]);
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("f");
    let stale = [a.as_slice(), &vec![b'x'; 5000]].concat();

    std::fs::write(&f, &stale).unwrap();
    let mut o = opts(tmp.path());
    o.overwrite = Overwrite::Never;
    let s = fake.restore(&root, &o);
    assert_eq!((s.files, s.skipped), (0, 1));
    assert_eq!(std::fs::read(&f).unwrap(), stale);

    // The file on disk is newer than the snapshot's: if-newer leaves it.
    o.overwrite = Overwrite::IfNewer;
    assert_eq!(fake.restore(&root, &o).skipped, 1);
    filetime::set_file_mtime(&f, filetime::FileTime::from_unix_time(1_000, 0)).unwrap();
    let s = fake.restore(&root, &o);
    assert_eq!(s.files, 1);
    // Only the changed blob was written.
    assert_eq!(s.bytes_written, 5000);
    assert_eq!(std::fs::read(&f).unwrap(), [a.as_slice(), &b].concat());

    // Now identical: always rewrites nothing, counts it unchanged.
    o.overwrite = Overwrite::Always;
    let s = fake.restore(&root, &o);
    assert_eq!((s.files, s.unchanged, s.bytes_written), (0, 1, 0));

    // if-changed trusts size and mtime.
    std::fs::write(&f, [a.as_slice(), &vec![b'z'; 5000]].concat()).unwrap();
    filetime::set_file_mtime(
        &f,
        filetime::FileTime::from_unix_time(1_700_000_000, 111_222_333),
    )
    .unwrap();
    o.overwrite = Overwrite::IfChanged;
    assert_eq!(fake.restore(&root, &o).unchanged, 1);
    o.overwrite = Overwrite::Always;
    assert_eq!(fake.restore(&root, &o).files, 1);
    assert_eq!(std::fs::read(&f).unwrap(), [a.as_slice(), &b].concat());
}

#[test]
fn delete_removes_only_selected_extras() {
    let mut fake = Fake::default();
    let ids = fake.blobs(&[b"k"], 1);
    let sub = fake.tree(vec![file(b"keep", vec![ids[0]], &[b"k"])]);
    let root = fake.tree(vec![dir(b"d", sub)]);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    std::fs::create_dir_all(t.join("d/extra_dir/x")).unwrap();
    std::fs::write(t.join("d/extra.txt"), b"").unwrap();
    std::fs::write(t.join("d/extra.log"), b"").unwrap();
    std::fs::write(t.join("top"), b"").unwrap();
    let mut o = opts(t);
    o.delete = true;
    o.excludes = vec![crate::filter::PatternList::new(["*.log"], false).unwrap()];

    o.dry_run = true;
    let s = fake.restore(&root, &o);
    assert_eq!(s.deleted, 4, "top, extra.txt, extra_dir, extra_dir/x");
    assert!(t.join("top").exists() && t.join("d/extra_dir/x").exists());

    o.dry_run = false;
    let s = fake.restore(&root, &o);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(
        !t.join("top").exists()
            && !t.join("d/extra.txt").exists()
            && !t.join("d/extra_dir").exists()
    );
    assert!(t.join("d/extra.log").exists() && t.join("d/keep").exists());
}

#[test]
fn dry_run_touches_nothing() {
    let mut fake = Fake::default();
    let root = sample(&mut fake);
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().join("never");
    let mut o = opts(&t);
    o.dry_run = true;
    let seen = Mutex::new(Vec::new());
    struct Rec<'a>(&'a Mutex<Vec<(Vec<u8>, ItemAction)>>);
    impl RestoreProgress for Rec<'_> {
        fn item(&self, location: &[u8], action: ItemAction, _: u64) {
            self.0.lock().unwrap().push((location.to_vec(), action));
        }
    }
    let s = fake.restore_with(&root, &o, &Rec(&seen));
    assert!(!t.exists());
    assert_eq!((s.files, s.dirs, s.others), (5, 1, 3));
    assert_eq!(fake.reads.load(Ordering::Relaxed), 0);
    assert!(seen
        .lock()
        .unwrap()
        .contains(&(b"/multi".to_vec(), ItemAction::FileRestored)));
}

#[test]
fn sparse_files_get_holes() {
    let mut fake = Fake::default();
    let zero = vec![0u8; 1 << 20];
    let ids = fake.blobs(&[&zero, b"tail"], 2);
    let content = vec![ids[0], ids[0], ids[0], ids[0], ids[1]];
    let chunks: Vec<&[u8]> = vec![&zero, &zero, &zero, &zero, b"tail"];
    let root = fake.tree(vec![file(b"s", content, &chunks)]);
    let tmp = tempfile::tempdir().unwrap();
    let mut o = opts(tmp.path());
    o.sparse = true;
    let s = fake.restore(&root, &o);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.bytes_written, 4);
    let m = std::fs::metadata(tmp.path().join("s")).unwrap();
    assert_eq!(m.len(), (4 << 20) + 4);
    assert!(m.blocks() < 64, "{} blocks", m.blocks());
}

#[test]
fn options_are_checked() {
    let mut o = opts(Path::new("/"));
    o.delete = true;
    assert!(check_options(&o).is_err());
    o.excludes = vec![crate::filter::PatternList::new(["x"], false).unwrap()];
    check_options(&o).unwrap();
    o.includes = vec![crate::filter::PatternList::new(["y"], false).unwrap()];
    assert!(check_options(&o).is_err());
    let mut o = opts(Path::new("/tmp/x"));
    (o.dry_run, o.verify) = (true, true);
    assert!(check_options(&o).is_err());
    assert_eq!("if-newer".parse::<Overwrite>().unwrap(), Overwrite::IfNewer);
    assert!("sometimes".parse::<Overwrite>().is_err());
}
