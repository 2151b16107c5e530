//! Transfer faults: reads that come back damaged a few times, then whole.

use crate::check::{CheckOptions, ReadDataSubset};
use crate::copy::tests::source;
use crate::repository::Repository;
use crate::restore::{restore, RestoreOptions};
use crate::NoProgress;
use cairn_backend::{Backend, Fault, FaultBackend, FileType, LocalBackend, Op};
use cairn_format::{BlobType, Id};
use std::sync::Arc;

/// A two-snapshot repository in `dir`, opened through a fault injector.
fn faulty_repo(dir: &tempfile::TempDir) -> (Repository, Arc<FaultBackend>) {
    let (repo, _) = source(dir, 2);
    let local = Arc::new(LocalBackend::new(dir.path().join("src")));
    drop(repo);
    let faulty = Arc::new(FaultBackend::new(local));
    let mut repo = Repository::open(faulty.clone(), "pw").unwrap();
    repo.load_index().unwrap();
    (repo, faulty)
}

fn first_id(be: &dyn Backend, t: FileType) -> String {
    let mut names: Vec<String> = be.list(t).unwrap().into_iter().map(|f| f.name).collect();
    names.sort();
    names.remove(0)
}

/// A pack holding data blobs, and one of its blobs.
fn data_pack(repo: &Repository) -> (Id, Id) {
    let loc = repo
        .index()
        .iter()
        .find(|l| l.blob_type == BlobType::Data)
        .unwrap();
    (loc.pack, loc.id)
}

#[test]
fn whole_files_damaged_in_transit_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, faulty) = faulty_repo(&dir);
    let snap = first_id(faulty.as_ref(), FileType::Snapshot);
    for fault in [Fault::Corrupt, Fault::Truncate(10)] {
        faulty.clear();
        faulty.inject_file(Op::Read, &snap, 1, 2, fault);
        let (snaps, problems) = repo.snapshots().unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(snaps.len(), 2);
    }
    // Index files and keys too.
    faulty.clear();
    let index = first_id(faulty.as_ref(), FileType::Index);
    faulty.inject_file(Op::Read, &index, 1, 2, Fault::Corrupt);
    let key = first_id(faulty.as_ref(), FileType::Key);
    faulty.inject_file(Op::Read, &key, 1, 2, Fault::Corrupt);
    faulty.inject_file(Op::Read, "config", 1, 2, Fault::Corrupt);
    let mut again = Repository::open(faulty.clone(), "pw").unwrap();
    assert!(again.load_index().unwrap().is_empty());
}

#[test]
fn lasting_damage_is_reported_saying_it_was_re_read() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, faulty) = faulty_repo(&dir);
    let snap = first_id(faulty.as_ref(), FileType::Snapshot);
    faulty.inject_file(Op::Read, &snap, 1, u64::MAX, Fault::Corrupt);
    let (_, problems) = repo.snapshots().unwrap();
    let msg = problems[0].to_string();
    assert!(msg.contains("damaged in all 3 reads"), "{msg}");

    let (pack, blob) = data_pack(&repo);
    faulty.inject_file(Op::ReadRange, &pack.to_hex(), 1, u64::MAX, Fault::Corrupt);
    let msg = repo
        .load_blob(BlobType::Data, &blob)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("damaged in all 3 reads"), "{msg}");
}

#[test]
fn blob_ranges_damaged_or_cut_in_transit_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, faulty) = faulty_repo(&dir);
    let (pack, blob) = data_pack(&repo);
    let want = {
        faulty.clear();
        repo.load_blob(BlobType::Data, &blob).unwrap()
    };
    for fault in [Fault::Corrupt, Fault::Truncate(3)] {
        faulty.clear();
        faulty.inject_file(Op::ReadRange, &pack.to_hex(), 1, 2, fault);
        assert_eq!(repo.load_blob(BlobType::Data, &blob).unwrap(), want);
    }
}

#[test]
fn check_read_data_reads_a_pack_again_before_calling_it_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, faulty) = faulty_repo(&dir);
    let (pack, _) = data_pack(&repo);
    let opts = CheckOptions {
        read_data: Some(ReadDataSubset::All),
        ..CheckOptions::default()
    };
    faulty.inject_file(Op::Read, &pack.to_hex(), 1, 2, Fault::Corrupt);
    let report = repo.check(&opts, &NoProgress).unwrap();
    assert!(report.is_ok(), "{:?}", report.errors);

    faulty.clear();
    faulty.inject_file(Op::Read, &pack.to_hex(), 1, u64::MAX, Fault::Corrupt);
    let report = repo.check(&opts, &NoProgress).unwrap();
    assert!(!report.is_ok());
    let all = format!("{:?}", report.errors);
    assert!(all.contains("damaged in all 3 reads"), "{all}");
}

#[test]
fn restore_reads_a_damaged_range_again() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, faulty) = faulty_repo(&dir);
    let (snaps, _) = repo.snapshots().unwrap();
    let tree = snaps[1].snapshot.tree;
    let clean = dir.path().join("clean");
    let summary = restore(&repo, &tree, None, &opts(&clean), &NoProgress).unwrap();
    assert!(summary.errors.is_empty());
    // Every data pack: its first two range reads come back damaged.
    for pack in repo.index().packs() {
        faulty.inject_file(Op::ReadRange, &pack.to_hex(), 1, 2, Fault::Corrupt);
    }
    let target = dir.path().join("target");
    let summary = restore(&repo, &tree, None, &opts(&target), &NoProgress).unwrap();
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    for name in ["sub/a", "sub/c", "top"] {
        assert_eq!(
            std::fs::read(target.join(name)).unwrap(),
            std::fs::read(clean.join(name)).unwrap()
        );
    }
}

fn opts(target: &std::path::Path) -> RestoreOptions {
    RestoreOptions {
        target: target.to_path_buf(),
        ..RestoreOptions::default()
    }
}

/// `copy` from `src` into a new repository "dst" in `dir`.
fn copy_into_new(
    dir: &tempfile::TempDir,
    src: &mut Repository,
) -> crate::Result<crate::copy::CopyReport> {
    let dst_backend = Arc::new(LocalBackend::new(dir.path().join("dst")));
    let mut dst = crate::copy::tests::init(dst_backend, 2);
    let opts = crate::copy::CopyOptions::default();
    crate::copy::tests::copy_locked(src, &mut dst, &opts)
}

#[test]
fn copy_reads_a_damaged_range_again() {
    let dir = tempfile::tempdir().unwrap();
    let (mut repo, faulty) = faulty_repo(&dir);
    // Two damaged reads per pack: more than one fallback read would mend.
    for pack in repo.index().packs() {
        faulty.inject_file(Op::ReadRange, &pack.to_hex(), 1, 2, Fault::Corrupt);
    }
    let report = copy_into_new(&dir, &mut repo).unwrap();
    assert_eq!(report.copied.len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let (mut repo, faulty) = faulty_repo(&dir);
    let (pack, _) = data_pack(&repo);
    faulty.inject_file(Op::ReadRange, &pack.to_hex(), 1, u64::MAX, Fault::Corrupt);
    let err = copy_into_new(&dir, &mut repo).unwrap_err().to_string();
    assert!(err.contains("re-read: damaged in all"), "{err}");
}

#[test]
fn repair_packs_reads_a_damaged_blob_again_before_calling_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (mut repo, faulty) = faulty_repo(&dir);
    let (pack, _) = data_pack(&repo);
    // Every whole read of the pack is damaged in transit; its ranges are
    // whole, so every blob can be salvaged.
    faulty.inject_file(Op::Read, &pack.to_hex(), 1, u64::MAX, Fault::Corrupt);
    let ids = [pack].into();
    let write = crate::write::WriteOptions::default();
    let lock = crate::testing::lock(&repo, true).unwrap();
    let report = repo
        .repair_packs(
            &lock,
            &ids,
            &write,
            &crate::NoProgress,
            &crate::Cancel::new(),
        )
        .unwrap();
    assert!(report.blobs_lost.is_empty(), "{:?}", report.blobs_lost);
    assert!(!report.blobs_salvaged.is_empty());
}
