//! Prune, forget and check against listings garbled in transit, missing
//! index files and temporary files left by killed writes.

use super::*;
use crate::check::CheckOptions;
use crate::copy::tests::source;
use crate::forget::{ForgetOptions, KeepPolicy};
use crate::NoProgress;
use cairn_backend::{Backend, Fault, FaultBackend, LocalBackend, Op};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

fn repo_at(root: &Path) -> (Repository, Arc<FaultBackend>) {
    let faulty = Arc::new(FaultBackend::new(Arc::new(LocalBackend::new(root))));
    (Repository::open(faulty.clone(), "pw").unwrap(), faulty)
}

fn files_in(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_garbled_listing_name_stops_prune_forget_and_check_before_any_delete() {
    let dir = tempfile::tempdir().unwrap();
    drop(source(&dir, 2));
    let root = dir.path().join("src");
    let before = files_in(&root);
    for folder in ["snapshots", "index", "data"] {
        let (mut repo, faulty) = repo_at(&root);
        faulty.inject_file(Op::List, folder, 1, u64::MAX, Fault::Corrupt);
        let err = repo
            .prune(
                &crate::testing::lock(&repo, true).unwrap(),
                &PruneOptions::default(),
                &crate::NoProgress,
            )
            .unwrap_err();
        assert!(matches!(err, Error::BadListing { .. }), "{folder}: {err}");
        let (repo, faulty) = repo_at(&root);
        faulty.inject_file(Op::List, folder, 1, u64::MAX, Fault::Corrupt);
        let forget = ForgetOptions {
            policy: KeepPolicy {
                last: 1,
                ..KeepPolicy::default()
            },
            ..ForgetOptions::default()
        };
        if folder == "snapshots" {
            let err = repo
                .forget(&crate::testing::lock(&repo, true).unwrap(), &forget)
                .unwrap_err();
            assert!(matches!(err, Error::BadListing { .. }), "{err}");
        }
        let checked = repo.check(&CheckOptions::default(), &NoProgress);
        match checked {
            Err(Error::BadListing { .. }) => {}
            Ok(report) => assert!(!report.is_ok(), "{folder}"),
            Err(other) => panic!("{folder}: {other}"),
        }
    }
    assert_eq!(files_in(&root), before);
}

#[test]
fn listings_skip_stray_names_unless_strict_and_exclusive_locks_are_strict() {
    let dir = tempfile::tempdir().unwrap();
    drop(source(&dir, 2));
    let root = dir.path().join("src");
    std::fs::write(root.join("snapshots/README"), b"x").unwrap();
    std::fs::write(root.join("locks/notes~"), b"x").unwrap();
    let (mut repo, _) = repo_at(&root);
    assert!(!repo.strict_listings());
    let (snaps, problems) = repo.snapshots().unwrap();
    assert_eq!((snaps.len(), problems.len()), (2, 0));
    drop(repo.lock(false, None).unwrap());
    let err = repo.lock(true, None).unwrap_err();
    assert!(matches!(err, Error::BadListing { .. }), "{err}");
    // `&self` commands use a strict copy and leave the setting alone.
    assert!(repo.check(&CheckOptions::default(), &NoProgress).is_err());
    assert!(!repo.strict_listings());
    repo.set_strict_listings(true);
    let err = repo.snapshots().unwrap_err();
    assert!(
        matches!(err, Error::BadListing { ref name, .. } if name == "README"),
        "{err}"
    );
}

#[test]
fn a_missing_index_file_makes_prune_refuse_rather_than_delete_used_packs() {
    let dir = tempfile::tempdir().unwrap();
    drop(source(&dir, 2));
    let root = dir.path().join("src");
    let local = LocalBackend::new(&root);
    let first = local.list(FileType::Index).unwrap().remove(0);
    local.remove(FileType::Index, &first.name).unwrap();
    let before = files_in(&root);
    let (mut repo, _) = repo_at(&root);
    let err = repo
        .prune(
            &crate::testing::lock(&repo, true).unwrap(),
            &PruneOptions::default(),
            &crate::NoProgress,
        )
        .unwrap_err();
    assert!(err.to_string().contains("repair index"), "{err}");
    assert_eq!(files_in(&root), before);
}

#[test]
fn prune_removes_old_temporary_files_and_keeps_young_ones() {
    let dir = tempfile::tempdir().unwrap();
    drop(source(&dir, 2));
    let root = dir.path().join("src");
    let id = "ab".repeat(32);
    let old = [
        root.join("locks")
            .join(format!(".{id}.tmp-0123456789abcdef")),
        root.join("data/ab")
            .join(format!(".{id}.tmp-fedcba9876543210")),
        root.join("data/ab").join(format!("{id}-tmp-12345")),
    ];
    let young = root
        .join("data/ab")
        .join(format!(".{id}.tmp-1111111111111111"));
    let long_ago = SystemTime::now() - TEMP_FILE_MIN_AGE - Duration::from_secs(60);
    for p in &old {
        std::fs::write(p, b"partial pack").unwrap();
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(long_ago).unwrap();
    }
    std::fs::write(&young, b"being written").unwrap();
    let (mut repo, _) = repo_at(&root);
    let dry = PruneOptions {
        dry_run: true,
        ..PruneOptions::default()
    };
    let report = repo
        .prune(
            &crate::testing::lock(&repo, true).unwrap(),
            &dry,
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.temp_files_removed, 3);
    assert!(old.iter().all(|p| p.exists()));
    let report = repo
        .prune(
            &crate::testing::lock(&repo, true).unwrap(),
            &PruneOptions::default(),
            &crate::NoProgress,
        )
        .unwrap();
    assert_eq!(report.temp_files_removed, 3);
    assert_eq!(report.temp_bytes_removed, 3 * 12);
    assert!(old.iter().all(|p| !p.exists()));
    assert!(young.exists());
    // The store refuses to remove anything that is not a temporary file.
    let local = LocalBackend::new(&root);
    assert!(local
        .remove_temp(FileType::Pack, &format!("ab/{id}"))
        .is_err());
    assert!(local.remove_temp(FileType::Key, "../config").is_err());
}

#[test]
fn a_prune_planned_without_a_snapshot_runs_only_once_that_snapshot_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ids) = source(&dir, 2);
    let root = dir.path().join("src");
    let (mut repo, _) = repo_at(&root);
    let lock = crate::testing::lock(&repo, true).unwrap();
    let opts = PruneOptions {
        max_unused: MaxUnused::Bytes(0),
        forgotten: [ids[0]].into(),
        ..PruneOptions::default()
    };
    // The first snapshot alone holds file "b": without it, data is unused.
    let plan = repo.plan_prune(&opts, &NoProgress).unwrap();
    assert!(plan.stats.unused.blobs > 0, "{:?}", plan.stats);
    let before = files_in(&root);
    let err = repo.execute_prune(&lock, plan, &NoProgress).unwrap_err();
    assert!(err.to_string().contains("still exists"), "{err}");
    let mut after_refusal = files_in(&root);
    after_refusal.retain(|f| !f.contains("/locks/"));
    let mut expected = before.clone();
    expected.retain(|f| !f.contains("/locks/"));
    assert_eq!(after_refusal, expected, "a refused prune changed files");

    // Planned first, then the snapshot deleted: the same plan as one made
    // after the deletion, and it runs.
    let early = repo.plan_prune(&opts, &NoProgress).unwrap();
    repo.remove_snapshots(&lock, &ids[..1]).unwrap();
    let plain = PruneOptions {
        max_unused: MaxUnused::Bytes(0),
        ..PruneOptions::default()
    };
    let late = repo.plan_prune(&plain, &NoProgress).unwrap();
    assert_eq!(early.stats, late.stats);
    assert_eq!(
        (&early.repack, &early.remove, &early.remove_first),
        (&late.repack, &late.remove, &late.remove_first)
    );
    repo.execute_prune(&lock, early, &NoProgress).unwrap();
    let report = repo.check(&CheckOptions::default(), &NoProgress).unwrap();
    assert!(report.is_ok());
    let (left, _) = repo.snapshots().unwrap();
    assert_eq!(left.iter().map(|s| s.id).collect::<Vec<_>>(), ids[1..]);
}
