//! One `Repository` value stays correct across writes: every writer is
//! called twice, or followed by a read, through the same value, which
//! must find what was written without opening the repository again.

use crate::backup::{BackupOptions, ParentChoice};
use crate::copy::tests::{contents, copy_locked, init, local, source};
use crate::copy::CopyOptions;
use crate::filter::PatternList;
use crate::recover::RecoverOptions;
use crate::rewrite::RewriteOptions;
use crate::testing::lock;
use crate::NoProgress as NoBackupProgress;
use crate::{BlobType, Id, KeyOptions, MaxUnused, PruneOptions, Repository};
use cairn_backend::FileType;
use std::path::Path;

/// Asserts that no blob is listed twice in `repo`'s loaded index, and
/// that it lists exactly what a freshly opened value does.
fn assert_index_matches_repository(repo: &Repository) {
    for loc in repo.index().iter() {
        let all = repo.index().lookup_all(loc.blob_type, &loc.id);
        assert_eq!(all.len(), 1, "{} {} stored twice", loc.blob_type, loc.id);
    }
    let mut fresh = Repository::open(repo.backend().clone(), "pw").unwrap();
    fresh.load_index().unwrap();
    let mut ours: Vec<_> = repo.index().iter().collect();
    let mut theirs: Vec<_> = fresh.index().iter().collect();
    ours.sort_by_key(|l| (l.blob_type == BlobType::Tree, l.id, l.pack));
    theirs.sort_by_key(|l| (l.blob_type == BlobType::Tree, l.id, l.pack));
    assert_eq!(ours, theirs, "the value's index differs from the files");
}

/// Every snapshot's files, read through `repo`.
fn all_contents(repo: &Repository) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let (snaps, problems) = repo.snapshots().unwrap();
    assert!(problems.is_empty());
    snaps
        .iter()
        .map(|s| contents(repo, &s.snapshot.tree))
        .collect()
}

fn write_source(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), b"first file").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("sub/big"), big).unwrap();
}

fn backup_opts(src: &Path) -> BackupOptions {
    BackupOptions {
        paths: vec![src.to_path_buf()],
        parent: ParentChoice::None,
        ..BackupOptions::default()
    }
}

#[test]
fn a_backup_is_readable_through_the_value_that_wrote_it_and_not_stored_twice() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    write_source(&src);
    let mut repo = init(local(&dir, "repo"), 2);
    repo.load_index().unwrap();
    let guard = lock(&repo, false).unwrap();
    let first = repo
        .backup(&guard, backup_opts(&src), &NoBackupProgress)
        .unwrap();
    let tree = first.snapshot.tree;
    let files = contents(&repo, &tree);
    assert!(files.iter().any(|(_, data)| data == b"first file"));
    assert_index_matches_repository(&repo);

    // The same files again, without a parent: every blob is known. Only
    // the trees of the folders above the source may be new: they record
    // those folders' times, and /tmp's change whenever a test running
    // beside this one makes or removes its temporary folder.
    // (Made certain here: a folder comes and goes beside ours.)
    drop(tempfile::tempdir_in(dir.path().parent().unwrap()).unwrap());
    let second = repo
        .backup(&guard, backup_opts(&src), &NoBackupProgress)
        .unwrap();
    let source_folder = |root: &Id| {
        let path = src.to_str().unwrap().as_bytes();
        let (node, _) = crate::walk::find_node(&repo, root, path).unwrap();
        let node = node.expect("the source folder is in the snapshot");
        (node.subtree, node.mtime, node.ctime)
    };
    assert_eq!(source_folder(&second.snapshot.tree), source_folder(&tree));
    let folders_above = src.components().count() - 1;
    assert_eq!(second.stats.data_blobs, 0, "data was stored again");
    assert!(
        second.stats.tree_blobs <= folders_above as u64,
        "{} trees stored again",
        second.stats.tree_blobs
    );
    assert_index_matches_repository(&repo);
}

#[test]
fn copied_snapshots_are_readable_through_the_destination_value() {
    let dir = tempfile::tempdir().unwrap();
    let (mut src, _) = source(&dir, 2);
    let mut dst = init(local(&dir, "dst"), 2);
    let first = copy_locked(&mut src, &mut dst, &CopyOptions::default()).unwrap();
    assert_eq!(first.copied.len(), 2);
    let expected = all_contents(&src);
    assert_eq!(all_contents(&dst), expected);
    assert_index_matches_repository(&dst);
    let again = copy_locked(&mut src, &mut dst, &CopyOptions::default()).unwrap();
    assert!(again.copied.is_empty());
    assert_eq!(again.written.packs, 0);
    assert_eq!(all_contents(&dst), expected);
    assert_index_matches_repository(&dst);
}

#[test]
fn after_forget_and_prune_the_same_value_reads_what_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (mut repo, ids) = source(&dir, 2);
    let guard = lock(&repo, true).unwrap();
    repo.remove_snapshots(&guard, &ids[..1]).unwrap();
    let before = all_contents(&repo);
    let opts = PruneOptions {
        max_unused: MaxUnused::Bytes(0),
        ..PruneOptions::default()
    };
    let report = repo.prune(&guard, &opts, &crate::NoProgress).unwrap();
    assert!(!report.packs_written.is_empty(), "nothing was repacked");
    assert_eq!(all_contents(&repo), before);
    assert_index_matches_repository(&repo);
    // A second prune through the same value finds nothing to do.
    let again = repo.prune(&guard, &opts, &crate::NoProgress).unwrap();
    assert!(again.packs_written.is_empty());
    assert_eq!(all_contents(&repo), before);
}

#[test]
fn rewritten_and_repaired_snapshots_are_readable_through_the_same_value() {
    let dir = tempfile::tempdir().unwrap();
    let (mut repo, _) = source(&dir, 2);
    let guard = lock(&repo, true).unwrap();
    let (snaps, _) = repo.snapshots().unwrap();
    let opts = RewriteOptions {
        excludes: vec![PatternList::new(["/sub/c"], false).unwrap()],
        ..RewriteOptions::default()
    };
    let report = repo
        .rewrite_snapshots(&guard, &snaps, &opts, &crate::NoProgress)
        .unwrap();
    // As restic 0.19, a filtered rewrite gives every snapshot a summary:
    // these have none, so both are rewritten, though only one loses a file.
    let new: Vec<Id> = report.snapshots.iter().filter_map(|s| s.new).collect();
    assert_eq!(new.len(), 2, "{report:?}");
    for id in &new {
        let rewritten = repo.load_snapshot(id).unwrap();
        assert!(rewritten.summary.is_some());
        let names: Vec<Vec<u8>> = contents(&repo, &rewritten.tree)
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert!(!names.iter().any(|p| p.ends_with(b"/c")), "{names:?}");
        assert!(names.iter().any(|p| p.ends_with(b"/a")), "{names:?}");
    }
    assert_index_matches_repository(&repo);

    // Repairing through the same value sees the rewritten trees (an
    // index without them would make every new snapshot look damaged).
    let (snaps, _) = repo.snapshots().unwrap();
    let repaired = repo
        .repair_snapshots(&guard, &snaps, &Default::default(), &crate::NoProgress)
        .unwrap();
    assert_eq!(repaired.changed(), 0);
    assert_index_matches_repository(&repo);
}

#[test]
fn a_recovered_snapshot_is_readable_through_the_same_value() {
    let dir = tempfile::tempdir().unwrap();
    let (mut repo, ids) = source(&dir, 2);
    let guard = lock(&repo, true).unwrap();
    let lost = repo.load_snapshot(&ids[0]).unwrap();
    repo.remove_snapshots(&guard, &ids[..1]).unwrap();
    let report = repo
        .recover(&guard, &RecoverOptions::default(), &crate::NoProgress)
        .unwrap();
    let id = report.snapshot.expect("a recovered snapshot");
    let recovered = repo.load_snapshot(&id).unwrap();
    let files = contents(&repo, &recovered.tree);
    let original = contents(&repo, &lost.tree);
    assert_eq!(files.len(), original.len());
    assert_index_matches_repository(&repo);
}

#[test]
fn repair_index_leaves_the_value_with_the_rebuilt_index() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = source(&dir, 2);
    let expected = all_contents(&repo);
    let (first, _) = repo.list_ids(FileType::Index).unwrap()[0];
    repo.backend()
        .remove(FileType::Index, &first.to_hex())
        .unwrap();
    let mut repo = Repository::open(repo.backend().clone(), "pw").unwrap();
    repo.load_index().unwrap();
    let guard = lock(&repo, true).unwrap();
    repo.repair_index(&guard, false).unwrap();
    assert_eq!(all_contents(&repo), expected);
    assert_index_matches_repository(&repo);
}

#[test]
fn a_password_change_moves_the_value_to_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut repo = init(local(&dir, "repo"), 2);
    let opts = KeyOptions {
        scrypt: Some(crate::testing::small_scrypt()),
        ..KeyOptions::default()
    };
    let guard = lock(&repo, true).unwrap();
    let first = repo.change_password(&guard, "pw2", &opts).unwrap();
    assert_eq!(repo.key_id(), first);
    let (keys, _) = repo.keys().unwrap();
    assert_eq!(keys.iter().filter(|k| k.current).count(), 1);
    // Twice through the same value: the key in use is the new one.
    let second = repo.change_password(&guard, "pw3", &opts).unwrap();
    assert_eq!(repo.key_id(), second);
    let (keys, _) = repo.keys().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].current);
    // The key in use, now the newest, cannot be removed.
    let extra = repo.add_key(&guard, "pw4", &opts).unwrap();
    assert!(repo.remove_key(&guard, &second.to_hex()).is_err());
    repo.remove_key(&guard, &extra.to_hex()).unwrap();
    drop(guard);
    assert!(lock(&repo, true).is_ok());
    let reopened = Repository::open(repo.backend().clone(), "pw3").unwrap();
    assert_eq!(reopened.key_id(), second);
}

#[test]
fn a_migration_leaves_the_value_with_the_new_config() {
    let dir = tempfile::tempdir().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let (mut repo, _) = source(&dir, 1);
    let guard = lock(&repo, true).unwrap();
    let report = repo
        .apply_migration_in(
            &guard,
            crate::migrate::Migration::UpgradeRepoV2,
            &crate::NoProgress,
            copies.path(),
        )
        .unwrap();
    assert!(report.applied);
    assert_eq!(repo.config().version, 2);
    assert!(!repo.migration_applies(crate::migrate::Migration::UpgradeRepoV2));
}
