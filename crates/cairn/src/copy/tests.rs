//! Copies between small repositories written by Cairn's own writer, across
//! format versions, with repeated copies and failures at every write.

use super::*;
use crate::write::Compression;
use crate::NoProgress;
use crate::{CheckOptions, InitOptions, ReadDataSubset};
use cairn_backend::{Backend, Fault, FaultBackend, LocalBackend, Op};
use cairn_crypto::ScryptParams;
use cairn_format::{BlobType, GoTime, Node, NodeType, Tree};
use std::sync::Arc;

/// A new repository with a cheap key (shared with other modules' tests).
pub(crate) fn init(backend: Arc<dyn Backend>, version: u32) -> Repository {
    let opts = InitOptions {
        version,
        scrypt: Some(ScryptParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..InitOptions::default()
    };
    Repository::init(backend, "pw", &opts).unwrap()
}

/// [`copy_snapshots`] under a fresh shared lock on `dst`.
pub(crate) fn copy_locked(
    src: &mut Repository,
    dst: &mut Repository,
    opts: &CopyOptions,
) -> crate::Result<CopyReport> {
    let lock = crate::testing::lock(dst, false)?;
    copy_snapshots(src, dst, &lock, opts, &NoProgress)
}

pub(crate) fn local(dir: &tempfile::TempDir, name: &str) -> Arc<dyn Backend> {
    Arc::new(LocalBackend::new(dir.path().join(name)))
}

fn write_opts() -> WriteOptions {
    WriteOptions {
        pack_size: 4 << 20,
        ..WriteOptions::default()
    }
}

/// Deterministic bytes: half random (incompressible), half repeated.
fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if i % 2 == 0 {
                x as u8
            } else {
                b'a'
            }
        })
        .collect()
}

fn file_node(writer: &BlobWriter, name: &str, data: &[u8]) -> Node {
    let mut node = Node::new(name.as_bytes().to_vec(), NodeType::File);
    let ids = data
        .chunks(512 << 10)
        .map(|c| writer.save_blob(BlobType::Data, c).unwrap().id)
        .collect();
    node.content = Some(ids);
    node.size = data.len() as u64;
    node
}

fn save_tree(writer: &BlobWriter, mut nodes: Vec<Node>) -> Id {
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let tree = Tree { nodes };
    writer
        .save_blob(BlobType::Tree, &tree.to_json())
        .unwrap()
        .id
}

/// A snapshot of `/data` holding `files` (name, size, seed) in a
/// subdirectory `sub` and one file `top` shared by every snapshot.
fn backup(repo: &mut Repository, files: &[(&str, usize, u64)], tag: &str) -> Id {
    repo.invalidate_index();
    repo.load_index().unwrap();
    let writer = BlobWriter::new(repo, write_opts()).unwrap();
    let sub_nodes = files
        .iter()
        .map(|(name, len, seed)| file_node(&writer, name, &bytes(*len, *seed)))
        .collect();
    let sub = save_tree(&writer, sub_nodes);
    let mut dir = Node::new(b"sub".to_vec(), NodeType::Dir);
    dir.subtree = Some(sub);
    let top = file_node(&writer, "top", &bytes(100_000, 7));
    let root = save_tree(&writer, vec![dir, top]);
    writer.flush().unwrap();
    let mut sn = Snapshot::new(GoTime::now_local(), root);
    sn.paths = vec!["/data".into()];
    sn.hostname = "host".into();
    sn.tags = vec![tag.into()];
    repo.save_unpacked(FileType::Snapshot, &sn.to_json())
        .unwrap()
}

/// Every file's content, by path, read back through the trees.
pub(crate) fn contents(repo: &Repository, tree: &Id) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    crate::walk::walk(
        repo,
        tree,
        &mut |path, node| {
            if let Some(ids) = &node.content {
                let mut data = Vec::new();
                for id in ids {
                    data.extend(repo.load_blob(BlobType::Data, id)?);
                }
                out.push((path.to_vec(), data));
            }
            Ok(crate::walk::Visit::Continue)
        },
        &mut |_, e| Err(e),
    )
    .unwrap();
    out
}

fn assert_checks(repo: &Repository) {
    assert_checks_reading(repo, true);
}

fn assert_checks_reading(repo: &Repository, read_data: bool) {
    let opts = CheckOptions {
        read_data: read_data.then_some(ReadDataSubset::All),
        ..CheckOptions::default()
    };
    let report = repo.check(&opts, &NoProgress).unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);
}

fn reopen(backend: Arc<dyn Backend>) -> Repository {
    let mut repo = Repository::open(backend, "pw").unwrap();
    repo.load_index().unwrap();
    repo
}

/// A repository "src" in `dir` with two snapshots sharing blobs.
pub(crate) fn source(dir: &tempfile::TempDir, version: u32) -> (Repository, Vec<Id>) {
    let mut src = init(local(dir, "src"), version);
    let a = backup(&mut src, &[("a", 600_000, 1), ("b", 200_000, 2)], "one");
    let b = backup(&mut src, &[("a", 600_000, 1), ("c", 300_000, 3)], "two");
    (reopen(src.backend().clone()), vec![a, b])
}

fn copy_between(src_version: u32, dst_version: u32) {
    let dir = tempfile::tempdir().unwrap();
    let (mut src, ids) = source(&dir, src_version);
    let mut dst = init(local(&dir, "dst"), dst_version);
    let opts = CopyOptions {
        write: write_opts(),
        ..CopyOptions::default()
    };
    let report = copy_locked(&mut src, &mut dst, &opts).unwrap();
    assert_eq!(report.copied.len(), 2);
    assert!(report.skipped.is_empty());
    assert!(report.written.packs > 0);

    let dst = reopen(dst.backend().clone());
    assert_checks(&dst);
    let (copies, _) = dst.snapshots().unwrap();
    assert_eq!(copies.len(), 2);
    for copy in &copies {
        let original = copy.snapshot.original.unwrap();
        assert!(ids.contains(&original));
        assert!(report.copied.contains(&(original, copy.id)));
        let before = src.load_snapshot(&original).unwrap();
        assert!(is_copy_of(&before, &copy.snapshot));
        assert_eq!(copy.snapshot.parent, None);
        let data = contents(&dst, &copy.snapshot.tree);
        assert_eq!(data, contents(&src, &before.tree));
        assert!(!data.is_empty());
    }
    // Stored as the destination's version says.
    for loc in dst.index().iter() {
        let compressed = loc.uncompressed_length.is_some();
        assert_eq!(compressed, dst_version == 2, "{loc:?}");
    }

    // A second copy finds both copies and writes nothing.
    let mut dst = reopen(dst.backend().clone());
    let again = copy_locked(&mut src, &mut dst, &opts).unwrap();
    assert!(again.copied.is_empty());
    assert_eq!(again.skipped.len(), 2);
    assert_eq!(again.written, WriteStats::default());
    assert_eq!(dst.snapshots().unwrap().0.len(), 2);
}

#[test]
fn v2_to_v1_stores_uncompressed() {
    copy_between(2, 1);
}

#[test]
fn v1_to_v2_compresses() {
    copy_between(1, 2);
}

#[test]
fn selection_by_id_and_filter_and_shared_blobs_copied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut src, ids) = source(&dir, 2);
    let mut dst = init(local(&dir, "dst"), 2);
    let opts = CopyOptions {
        filter: SnapshotFilter {
            tags: vec![vec!["two".into()]],
            ..SnapshotFilter::default()
        },
        write: WriteOptions {
            compression: Compression::Off,
            ..write_opts()
        },
        ..CopyOptions::default()
    };
    let first = copy_locked(&mut src, &mut dst, &opts).unwrap();
    assert_eq!(first.copied.len(), 1);
    assert_eq!(first.copied[0].0, ids[1]);
    // Naming the other snapshot by a prefix copies it; only the blobs the
    // first copy did not bring are written ("b" and the trees).
    let by_id = CopyOptions {
        snapshots: vec![ids[0].to_hex()[..8].to_string(), "ffffffff".into()],
        ..opts.clone()
    };
    let second = copy_locked(&mut src, &mut dst, &by_id).unwrap();
    assert_eq!(second.copied.len(), 1);
    assert_eq!(second.copied[0].0, ids[0]);
    assert_eq!(second.written.data_blobs, 1, "{:?}", second.written);
    assert_eq!(second.written.tree_blobs, 2, "{:?}", second.written);
    assert_checks(&reopen(dst.backend().clone()));
}

#[test]
fn copies_of_copies_keep_the_first_original() {
    let dir = tempfile::tempdir().unwrap();
    let (mut src, ids) = source(&dir, 2);
    let mut mid = init(local(&dir, "mid"), 1);
    let mut dst = init(local(&dir, "dst"), 2);
    let opts = CopyOptions {
        write: write_opts(),
        ..CopyOptions::default()
    };
    copy_locked(&mut src, &mut mid, &opts).unwrap();
    let mut mid = reopen(mid.backend().clone());
    copy_locked(&mut mid, &mut dst, &opts).unwrap();
    let mut dst = reopen(dst.backend().clone());
    for copy in dst.snapshots().unwrap().0 {
        assert!(ids.contains(&copy.snapshot.original.unwrap()));
    }
    // The source's snapshots are recognised in the copy of the copy.
    let again = copy_locked(&mut src, &mut dst, &opts).unwrap();
    assert_eq!(again.skipped.len(), 2);
}

/// A copy that fails at any write leaves a destination that checks clean
/// and holds only whole snapshots; copying again completes it.
#[test]
fn a_failure_at_any_write_leaves_a_valid_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (mut src, _) = source(&dir, 2);
    let opts = CopyOptions {
        write: write_opts(),
        ..CopyOptions::default()
    };
    let mut n = 1;
    loop {
        let faulty = Arc::new(FaultBackend::new(local(&dir, &format!("dst{n}"))));
        let mut dst = init(faulty.clone(), 2);
        let base = faulty.count(Op::Write);
        faulty.inject_range(Op::Write, base + n, u64::MAX, Fault::FailPermanent);
        let result = copy_locked(&mut src, &mut dst, &opts);
        faulty.clear();
        let mut dst = reopen(faulty.clone());
        assert_checks_reading(&dst, false);
        if result.is_ok() {
            assert!(n > 4, "the copy made only {} writes", n - 1);
            break;
        }
        let whole = dst.snapshots().unwrap().0.len();
        let done = copy_locked(&mut src, &mut dst, &opts).unwrap();
        assert_eq!(done.skipped.len(), whole);
        assert_eq!(done.copied.len(), 2 - whole);
        assert_checks_reading(&reopen(faulty), n == 1);
        n += 1;
    }
}

#[test]
fn similarity_ignores_parent_original_and_order() {
    let mut a = Snapshot::new(GoTime::now_local(), Id([1; 32]));
    a.paths = vec!["/a".into(), "/b".into()];
    a.tags = vec!["x".into(), "y".into()];
    let mut b = a.clone();
    b.parent = Some(Id([2; 32]));
    b.original = Some(Id([3; 32]));
    b.paths.reverse();
    b.tags.reverse();
    assert!(is_copy_of(&a, &b));
    b.tags.push("z".into());
    assert!(!is_copy_of(&a, &b));
    let mut c = a.clone();
    c.hostname = "other".into();
    assert!(!is_copy_of(&a, &c));
    let mut d = a.clone();
    d.time.nanos += 1;
    assert!(!is_copy_of(&a, &d));
}
