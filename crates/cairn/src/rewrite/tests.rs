//! Rewriting and repairing trees of a small repository built in place.

use super::*;
use crate::repair_snapshots::RepairSnapshotsOptions;
use crate::{InitOptions, LocalBackend};
use cairn_crypto::ScryptParams;
use cairn_format::{BlobType, Node, NodeType, Snapshot, SnapshotSummary, Tree};
use std::sync::Arc;

/// A local store whose writes of one file type can be made to fail, as a
/// crash at that step would leave things.
struct Faulty {
    inner: LocalBackend,
    fail: std::sync::Mutex<Option<FileType>>,
}

impl Faulty {
    fn fail_writes_of(&self, t: Option<FileType>) {
        *self.fail.lock().unwrap() = t;
    }
}

impl cairn_backend::Backend for Faulty {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> cairn_backend::Result<()> {
        self.inner.create()
    }
    fn list(&self, t: FileType) -> cairn_backend::Result<Vec<cairn_backend::FileInfo>> {
        self.inner.list(t)
    }
    fn read(&self, t: FileType, n: &str) -> cairn_backend::Result<Vec<u8>> {
        self.inner.read(t, n)
    }
    fn read_range(&self, t: FileType, n: &str, o: u64, l: u64) -> cairn_backend::Result<Vec<u8>> {
        self.inner.read_range(t, n, o, l)
    }
    fn write(&self, t: FileType, n: &str, d: &[u8]) -> cairn_backend::Result<()> {
        if *self.fail.lock().unwrap() == Some(t) {
            return Err(cairn_backend::BackendError::InvalidName(format!(
                "no writes to {t}"
            )));
        }
        self.inner.write(t, n, d)
    }
    fn remove(&self, t: FileType, n: &str) -> cairn_backend::Result<()> {
        self.inner.remove(t, n)
    }
    fn stat(&self, t: FileType, n: &str) -> cairn_backend::Result<cairn_backend::FileInfo> {
        self.inner.stat(t, n)
    }
}

fn faulty_repo() -> (tempfile::TempDir, Arc<Faulty>, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Faulty {
        inner: LocalBackend::new(dir.path().join("repo")),
        fail: std::sync::Mutex::new(None),
    });
    let opts = InitOptions {
        scrypt: Some(ScryptParams {
            n: 1024,
            r: 8,
            p: 1,
        }),
        ..InitOptions::default()
    };
    let repo = Repository::init(backend.clone(), "pw", &opts).unwrap();
    (dir, backend, repo)
}

fn repo() -> (tempfile::TempDir, Repository) {
    let (dir, _, repo) = faulty_repo();
    (dir, repo)
}

fn ids(repo: &Repository, t: FileType) -> std::collections::BTreeSet<Id> {
    repo.list_ids(t)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn file(name: &str, content: Vec<Id>, size: u64) -> Node {
    let mut n = Node::new(name, NodeType::File);
    n.content = Some(content);
    n.size = size;
    n
}

fn dir(name: &str, subtree: Id) -> Node {
    let mut n = Node::new(name, NodeType::Dir);
    n.subtree = Some(subtree);
    n
}

/// Stores blobs and trees, then a snapshot of `root`; reopens the index.
/// `/` holds `a.txt` (2 blobs), `keep/` (`b.log`) and `skip/` (`c`).
fn build(repo: &mut Repository, missing: Option<Id>) -> StoredSnapshot {
    let writer = BlobWriter::new(repo, WriteOptions::default()).unwrap();
    let d1 = writer.save_blob(BlobType::Data, b"hello ").unwrap().id;
    let d2 = writer.save_blob(BlobType::Data, b"world").unwrap().id;
    let mut a_content = vec![d1, d2];
    let mut a_size = 11;
    if let Some(m) = missing {
        a_content.push(m);
        a_size += 3;
    }
    let save = |t: &Tree| writer.save_blob(BlobType::Tree, &t.to_json()).unwrap().id;
    let keep = save(&Tree {
        nodes: vec![file("b.log", vec![d1], 6)],
    });
    let skip = match missing {
        Some(m) => m, // a subtree that is not stored anywhere
        None => save(&Tree {
            nodes: vec![file("c", vec![d2], 5)],
        }),
    };
    let root = save(&Tree {
        nodes: vec![
            file("a.txt", a_content, a_size),
            dir("keep", keep),
            dir("skip", skip),
        ],
    });
    writer.flush().unwrap();
    let mut sn = Snapshot::new(GoTime::now_local(), root);
    sn.paths = vec!["/src".into()];
    sn.hostname = "host".into();
    // What a backup of this tree records (restic 0.17+, Cairn).
    sn.summary = Some(SnapshotSummary {
        total_files_processed: 3,
        total_bytes_processed: a_size + 6 + 5,
        ..SnapshotSummary::default()
    });
    let id = repo
        .save_unpacked(FileType::Snapshot, &sn.to_json())
        .unwrap();
    repo.invalidate_index();
    StoredSnapshot { id, snapshot: sn }
}

fn names(repo: &Repository, tree: &Id) -> Vec<String> {
    let mut out = Vec::new();
    crate::walk::walk(
        repo,
        tree,
        &mut |path, _| {
            out.push(String::from_utf8_lossy(path).into_owned());
            Ok(crate::walk::Visit::Continue)
        },
        &mut |_, e| Err(e),
    )
    .unwrap();
    out
}

#[test]
fn excludes_drop_nodes_and_unchanged_snapshots_stay() {
    let (_dir, mut repo) = repo();
    let snap = build(&mut repo, None);
    let opts = RewriteOptions {
        excludes: vec![PatternList::new(["/skip", "*.log"], false).unwrap()],
        ..RewriteOptions::default()
    };
    let report = repo
        .rewrite_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&snap),
            &opts,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.changed(), 1);
    let new_id = report.snapshots[0].new.expect("a new snapshot");
    assert!(!report.snapshots[0].removed_old);
    repo.invalidate_index();
    repo.load_index().unwrap();
    let new = repo.load_snapshot(&new_id).unwrap();
    assert_eq!(new.original, Some(snap.id));
    assert_eq!(new.tags, ["rewrite"]);
    assert_eq!(names(&repo, &new.tree), ["/a.txt", "/keep"]);
    let summary = new.summary.unwrap();
    assert_eq!(
        (summary.total_files_processed, summary.total_bytes_processed),
        (1, 11),
        "the summary counts what is left"
    );
    // The old snapshot is still there and whole.
    assert_eq!(
        names(&repo, &repo.load_snapshot(&snap.id).unwrap().tree),
        ["/a.txt", "/keep", "/keep/b.log", "/skip", "/skip/c"]
    );

    // Patterns that match nothing change nothing and write nothing.
    let before = repo.list_ids(FileType::Pack).unwrap().len();
    let none = RewriteOptions {
        excludes: vec![PatternList::new(["/nothing-here"], false).unwrap()],
        forget: true,
        ..RewriteOptions::default()
    };
    let report = repo
        .rewrite_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&snap),
            &none,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.changed(), 0);
    assert_eq!(repo.list_ids(FileType::Pack).unwrap().len(), before);
    assert!(repo.load_snapshot(&snap.id).is_ok());
}

#[test]
fn forget_and_metadata_replace_the_snapshot() {
    let (_dir, mut repo) = repo();
    let snap = build(&mut repo, None);
    let time = GoTime::parse("2021-03-04T05:06:07Z").unwrap();
    let dry = RewriteOptions {
        new_host: Some("other".into()),
        new_time: Some(time),
        forget: true,
        dry_run: true,
        ..RewriteOptions::default()
    };
    let report = repo
        .rewrite_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&snap),
            &dry,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.changed(), 1);
    assert_eq!(report.snapshots[0].new, None);
    assert_eq!(repo.list_ids(FileType::Snapshot).unwrap().len(), 1);

    let opts = RewriteOptions {
        dry_run: false,
        ..dry
    };
    let report = repo
        .rewrite_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&snap),
            &opts,
            &crate::NoProgress,
        )
        .unwrap();
    let new_id = report.snapshots[0].new.unwrap();
    assert!(report.snapshots[0].removed_old);
    let ids: Vec<Id> = repo
        .list_ids(FileType::Snapshot)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, [new_id]);
    let new = repo.load_snapshot(&new_id).unwrap();
    assert_eq!(new.hostname, "other");
    assert_eq!(new.time, time);
    assert_eq!(new.tree, snap.snapshot.tree);
    assert!(new.tags.is_empty(), "no rewrite tag with forget");
    assert_eq!(new.original, Some(snap.id));
}

#[test]
fn nothing_to_do_is_refused() {
    let err = RewriteOptions::default().validate().unwrap_err();
    assert!(err.to_string().contains("Nothing to do"), "{err}");
}

#[test]
fn repair_cuts_missing_content_and_empties_missing_trees() {
    let (_dir, mut repo) = repo();
    let missing = Id::hash(b"never stored");
    let snap = build(&mut repo, Some(missing));
    let opts = RepairSnapshotsOptions::default();
    let report = repo
        .repair_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&snap),
            &opts,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.changed(), 1);
    repo.invalidate_index();
    repo.load_index().unwrap();
    let new = repo
        .load_snapshot(&report.snapshots[0].new.unwrap())
        .unwrap();
    assert_eq!(new.tags, ["repaired"]);
    let root = repo.load_tree(&new.tree).unwrap();
    let a = &root.nodes[0];
    assert_eq!(a.content.as_ref().unwrap().len(), 2);
    assert_eq!(a.size, 11);
    let skip = repo.load_tree(&root.nodes[2].subtree.unwrap()).unwrap();
    assert!(skip.nodes.is_empty());
    // Repairing the repaired snapshot finds nothing more to do.
    let again = StoredSnapshot {
        id: report.snapshots[0].new.unwrap(),
        snapshot: new,
    };
    let report = repo
        .repair_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&again),
            &opts,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.changed(), 0);
}

#[test]
fn repair_removes_a_snapshot_whose_root_is_gone() {
    let (_dir, repo) = repo();
    let mut sn = Snapshot::new(GoTime::now_local(), Id::hash(b"no such tree"));
    sn.paths = vec!["/x".into()];
    let id = repo
        .save_unpacked(FileType::Snapshot, &sn.to_json())
        .unwrap();
    let mut repo = repo;
    let report = repo
        .repair_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            &[StoredSnapshot { id, snapshot: sn }],
            &RepairSnapshotsOptions::default(),
            &crate::NoProgress,
        )
        .unwrap();
    assert!(report.snapshots[0].changed && report.snapshots[0].removed_old);
    assert!(repo.list_ids(FileType::Snapshot).unwrap().is_empty());
}

#[test]
fn a_failed_snapshot_write_keeps_the_old_snapshot() {
    let (_dir, faulty, mut repo) = faulty_repo();
    let snap = build(&mut repo, None);
    let opts = RewriteOptions {
        excludes: vec![PatternList::new(["/skip"], false).unwrap()],
        forget: true,
        ..RewriteOptions::default()
    };
    for step in [FileType::Pack, FileType::Index, FileType::Snapshot] {
        faulty.fail_writes_of(Some(step));
        repo.invalidate_index();
        assert!(repo
            .rewrite_snapshots(
                &crate::testing::lock(&repo, true).unwrap(),
                std::slice::from_ref(&snap),
                &opts,
                &crate::NoProgress
            )
            .is_err());
        assert_eq!(ids(&repo, FileType::Snapshot), [snap.id].into(), "{step}");
    }
    faulty.fail_writes_of(None);
    repo.invalidate_index();
    let report = repo
        .rewrite_snapshots(
            &crate::testing::lock(&repo, true).unwrap(),
            std::slice::from_ref(&snap),
            &opts,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(
        ids(&repo, FileType::Snapshot),
        [report.snapshots[0].new.unwrap()].into()
    );
}

#[test]
fn repair_packs_deletes_damaged_packs_only_after_the_new_index() {
    let (dir, faulty, mut repo) = faulty_repo();
    build(&mut repo, None);
    repo.load_index().unwrap();
    let data_pack = repo
        .index()
        .iter()
        .find(|l| l.blob_type == BlobType::Data)
        .unwrap()
        .pack;
    let hex = data_pack.to_hex();
    let path = dir.path().join("repo/data").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let damaged: std::collections::BTreeSet<Id> = [data_pack].into();
    let old_index = ids(&repo, FileType::Index);

    faulty.fail_writes_of(Some(FileType::Index));
    repo.invalidate_index();
    assert!(repo
        .repair_packs(
            &crate::testing::lock(&repo, true).unwrap(),
            &damaged,
            &WriteOptions::default(),
            &crate::NoProgress,
            &crate::Cancel::new(),
        )
        .is_err());
    assert!(
        path.exists(),
        "the damaged pack stays while the old index names it"
    );
    assert_eq!(ids(&repo, FileType::Index), old_index);

    faulty.fail_writes_of(None);
    repo.invalidate_index();
    let report = repo
        .repair_packs(
            &crate::testing::lock(&repo, true).unwrap(),
            &damaged,
            &WriteOptions::default(),
            &crate::NoProgress,
            &crate::Cancel::new(),
        )
        .unwrap();
    assert_eq!(report.packs_deleted, [data_pack]);
    assert_eq!(report.blobs_lost.len(), 1, "{report:?}");
    assert!(!report.blobs_salvaged.is_empty());
    assert!(!path.exists());
    assert!(ids(&repo, FileType::Index).is_disjoint(&old_index));
    repo.invalidate_index();
    repo.load_index().unwrap();
    assert!(repo.index().iter().all(|l| l.pack != data_pack));
}
