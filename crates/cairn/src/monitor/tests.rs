//! The catalog reads each snapshot file once; status counts packs and locks.

use super::*;
use crate::testing::{small_scrypt, CountingBackend, ReadCounts};
use crate::{InitOptions, LocalBackend, Repository};
use cairn_backend::FileType;
use cairn_format::gotime::GoTime;
use cairn_format::{Id, Snapshot};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A new repository on a local store whose reads are counted.
fn setup() -> (tempfile::TempDir, Arc<ReadCounts>, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let (backend, counts) =
        CountingBackend::new(Arc::new(LocalBackend::new(dir.path().join("repo"))));
    let backend = Arc::new(backend);
    let opts = InitOptions {
        scrypt: Some(small_scrypt()),
        ..InitOptions::default()
    };
    let repo = Repository::init(backend, "pw", &opts).unwrap();
    (dir, counts, repo)
}

fn at(secs: u64) -> GoTime {
    GoTime::from_system_time(UNIX_EPOCH + Duration::from_secs(secs), 0)
}

fn save(repo: &Repository, host: &str, paths: &[&str], tags: &[&str], secs: u64) -> Id {
    let mut sn = Snapshot::new(at(secs), Id::hash(host.as_bytes()));
    sn.hostname = host.into();
    sn.paths = paths.iter().map(|p| p.to_string()).collect();
    sn.tags = tags.iter().map(|t| t.to_string()).collect();
    repo.save_unpacked(FileType::Snapshot, &sn.to_json())
        .unwrap()
}

#[test]
fn second_refresh_reads_only_new_snapshots() {
    let (_dir, counts, repo) = setup();
    let reads = || counts.of_type(FileType::Snapshot);
    save(&repo, "a", &["/x"], &[], 100);
    save(&repo, "a", &["/x"], &[], 200);
    let mut catalog = SnapshotCatalog::new();
    let first = catalog.refresh(&repo).unwrap();
    assert_eq!((first.loaded, reads()), (2, 2));

    let unchanged = catalog.refresh(&repo).unwrap();
    assert_eq!(
        (unchanged.loaded, reads()),
        (0, 2),
        "nothing new, nothing read"
    );

    let newest = save(&repo, "a", &["/x"], &[], 300);
    let third = catalog.refresh(&repo).unwrap();
    assert_eq!((third.loaded, reads()), (1, 3), "only the new file is read");
    let groups = catalog.groups();
    assert_eq!(groups.len(), 1);
    assert_eq!((groups[0].count, groups[0].newest.id), (3, newest));
}

#[test]
fn removed_snapshots_leave_the_catalog() {
    let (dir, _counts, repo) = setup();
    let old = save(&repo, "a", &["/x"], &[], 100);
    let kept = save(&repo, "a", &["/x"], &[], 50);
    let mut catalog = SnapshotCatalog::new();
    catalog.refresh(&repo).unwrap();
    std::fs::remove_file(dir.path().join("repo/snapshots").join(old.to_hex())).unwrap();
    let report = catalog.refresh(&repo).unwrap();
    assert_eq!((report.loaded, report.removed), (0, 1));
    assert_eq!(catalog.len(), 1);
    assert_eq!(catalog.groups()[0].newest.id, kept);
}

#[test]
fn groups_are_host_sorted_paths_and_sorted_tags() {
    let (_dir, _counts, repo) = setup();
    save(&repo, "a", &["/y", "/x"], &["t2", "t1"], 100);
    let newer = save(&repo, "a", &["/x", "/y"], &["t1", "t2"], 200);
    save(&repo, "a", &["/x"], &[], 300);
    save(&repo, "b", &["/x"], &[], 400);
    let mut catalog = SnapshotCatalog::new();
    catalog.refresh(&repo).unwrap();
    let groups = catalog.groups();
    let keys: Vec<(&str, Vec<String>, Vec<String>, usize)> = groups
        .iter()
        .map(|g| (g.host.as_str(), g.paths.clone(), g.tags.clone(), g.count))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        keys,
        vec![
            ("a", s(&["/x"]), s(&[]), 1),
            ("a", s(&["/x", "/y"]), s(&["t1", "t2"]), 2),
            ("b", s(&["/x"]), s(&[]), 1),
        ]
    );
    assert_eq!(groups[1].newest.id, newer);
}

#[test]
fn unreadable_snapshot_is_a_problem_and_retried() {
    let (dir, _counts, repo) = setup();
    let id = save(&repo, "a", &["/x"], &[], 100);
    let path = dir.path().join("repo/snapshots").join(id.to_hex());
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, b"garbage").unwrap();
    let mut catalog = SnapshotCatalog::new();
    let report = catalog.refresh(&repo).unwrap();
    assert_eq!((report.problems.len(), catalog.len()), (1, 0));
    std::fs::write(&path, good).unwrap();
    let report = catalog.refresh(&repo).unwrap();
    assert!(report.problems.is_empty());
    assert_eq!((report.loaded, catalog.len()), (1, 1));
}

#[test]
fn status_counts_packs_and_the_oldest_lock() {
    let (dir, _counts, repo) = setup();
    let none = repo.status(SystemTime::now()).unwrap();
    assert_eq!((none.packs, none.pack_bytes, none.locks), (0, 0, 0));
    assert_eq!(none.oldest_lock_age, None);

    let packs = dir.path().join("repo/data/00");
    std::fs::write(packs.join(Id::hash(b"p1").to_hex()), [0u8; 10]).unwrap();
    let p2 = Id::hash(b"p2").to_hex();
    let sub = dir.path().join("repo/data").join(&p2[..2]);
    std::fs::write(sub.join(&p2), [0u8; 32]).unwrap();

    let guard = crate::testing::lock(&repo, false).unwrap();
    let later = SystemTime::now() + Duration::from_secs(3600);
    let status = repo.status(later).unwrap();
    assert_eq!((status.packs, status.pack_bytes, status.locks), (2, 42, 1));
    let age = status.oldest_lock_age.unwrap();
    assert!(age >= Duration::from_secs(3600) && age < Duration::from_secs(3700));
    guard.release().unwrap();
    assert_eq!(repo.status(later).unwrap().locks, 0);
}
