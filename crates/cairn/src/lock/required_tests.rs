//! Every library function that changes a repository takes a lock guard
//! and refuses one that does not fit: shared where restic locks
//! exclusively, for another repository, or given up.

use super::{LockGuard, LockProblem};
use crate::backup::BackupOptions;
use crate::copy::tests::{init, local, source};
use crate::copy::{copy_snapshots, CopyOptions};
use crate::filter::PatternList;
use crate::migrate::Migration;
use crate::recover::RecoverOptions;
use crate::repair_snapshots::RepairSnapshotsOptions;
use crate::rewrite::RewriteOptions;
use crate::testing::{lock, small_scrypt};
use crate::NoProgress as NoBackupProgress;
use crate::NoProgress as NoCopyProgress;
use crate::{
    Error, ForgetOptions, Id, KeepPolicy, KeyOptions, PruneOptions, Repository, Result, TagChange,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What an operation may use: the repository's folder beside it.
struct Scene {
    dir: tempfile::TempDir,
    ids: Vec<Id>,
    /// A key beside the one in use, for `key remove`.
    extra_key: Id,
}

type Operation = fn(&mut Repository, &LockGuard, &Scene) -> Result<()>;

fn key_opts() -> KeyOptions {
    KeyOptions {
        scrypt: Some(small_scrypt()),
        ..KeyOptions::default()
    }
}

fn excludes() -> RewriteOptions {
    RewriteOptions {
        excludes: vec![PatternList::new(["/sub/c"], false).unwrap()],
        ..RewriteOptions::default()
    }
}

fn backup(repo: &mut Repository, lock: &LockGuard, scene: &Scene) -> Result<()> {
    let src = scene.dir.path().join("files");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), b"content").unwrap();
    let opts = BackupOptions {
        paths: vec![src],
        ..BackupOptions::default()
    };
    repo.backup(lock, opts, &NoBackupProgress).map(drop)
}

fn copy(repo: &mut Repository, lock: &LockGuard, scene: &Scene) -> Result<()> {
    let mut from = match Repository::open(local(&scene.dir, "from"), "pw") {
        Ok(from) => from,
        Err(_) => init(local(&scene.dir, "from"), 2),
    };
    let opts = CopyOptions::default();
    copy_snapshots(&mut from, repo, lock, &opts, &NoCopyProgress).map(drop)
}

fn rewrite(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    let (snaps, _) = repo.snapshots()?;
    repo.rewrite_snapshots(lock, &snaps, &excludes(), &crate::NoProgress)
        .map(drop)
}

fn rewrite_forget(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    let (snaps, _) = repo.snapshots()?;
    let opts = RewriteOptions {
        forget: true,
        ..excludes()
    };
    repo.rewrite_snapshots(lock, &snaps, &opts, &crate::NoProgress)
        .map(drop)
}

fn rewriter(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.snapshot_rewriter(lock, &excludes()).map(drop)
}

fn repair_snapshots(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    let (snaps, _) = repo.snapshots()?;
    let opts = RepairSnapshotsOptions::default();
    repo.repair_snapshots(lock, &snaps, &opts, &crate::NoProgress)
        .map(drop)
}

fn repairer(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.snapshot_repairer(lock, &RepairSnapshotsOptions::default())
        .map(drop)
}

fn repair_index(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.repair_index(lock, false).map(drop)
}

fn repair_packs(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    let none = BTreeSet::new();
    repo.repair_packs(
        lock,
        &none,
        &Default::default(),
        &crate::NoProgress,
        &Default::default(),
    )
    .map(drop)
}

fn recover(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.recover(lock, &RecoverOptions::default(), &crate::NoProgress)
        .map(drop)
}

fn prune(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.prune(lock, &PruneOptions::default(), &crate::NoProgress)
        .map(drop)
}

fn execute_prune(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    // Planning needs no lock.
    let plan = repo.plan_prune(&PruneOptions::default(), &crate::NoProgress)?;
    repo.execute_prune(lock, plan, &crate::NoProgress).map(drop)
}

fn tag(repo: &mut Repository, lock: &LockGuard, scene: &Scene) -> Result<()> {
    let change = TagChange::Set(vec!["new".into()]);
    repo.change_tags(lock, &scene.ids[..1], &change).map(drop)
}

fn forget(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    let opts = ForgetOptions {
        policy: KeepPolicy {
            last: 1,
            ..KeepPolicy::default()
        },
        ..ForgetOptions::default()
    };
    repo.forget(lock, &opts).map(drop)
}

fn remove_snapshots(repo: &mut Repository, lock: &LockGuard, scene: &Scene) -> Result<()> {
    repo.remove_snapshots(lock, &scene.ids[..1])
}

fn key_add(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.add_key(lock, "other", &key_opts()).map(drop)
}

fn key_remove(repo: &mut Repository, lock: &LockGuard, scene: &Scene) -> Result<()> {
    repo.remove_key(lock, &scene.extra_key.to_hex()).map(drop)
}

fn key_passwd(repo: &mut Repository, lock: &LockGuard, _: &Scene) -> Result<()> {
    repo.change_password(lock, "new", &key_opts()).map(drop)
}

fn migrate(repo: &mut Repository, lock: &LockGuard, scene: &Scene) -> Result<()> {
    let copies = scene.dir.path().join("copies");
    std::fs::create_dir_all(&copies).unwrap();
    let progress = crate::NoProgress;
    repo.apply_migration_in(lock, Migration::UpgradeRepoV2, &progress, &copies)
        .map(drop)
}

/// Every changing operation and whether it needs an exclusive lock (as
/// restic 0.19 locks it).
const OPERATIONS: &[(&str, bool, Operation)] = &[
    ("backup", false, backup),
    ("copy", false, copy),
    ("rewrite", false, rewrite),
    ("rewrite", true, rewrite_forget),
    ("rewrite", false, rewriter),
    ("repair snapshots", true, repair_snapshots),
    ("repair snapshots", true, repairer),
    ("repair index", true, repair_index),
    ("repair packs", true, repair_packs),
    ("recover", false, recover),
    ("prune", true, prune),
    ("prune", true, execute_prune),
    ("tag", true, tag),
    ("forget", true, forget),
    ("forget", true, remove_snapshots),
    ("key add", false, key_add),
    ("key remove", true, key_remove),
    ("key passwd", true, key_passwd),
    ("migrate", true, migrate),
];

/// Every file of the repository at `root` but the locks, with its size.
fn files(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if path.starts_with(root.join("locks")) {
                continue;
            }
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                todo.push(path);
            } else {
                out.push((path, meta.len()));
            }
        }
    }
    out.sort();
    out
}

fn refused(result: Result<()>, operation: &str, want: LockProblem) {
    match result {
        Err(Error::LockNotSuitable {
            operation: op,
            problem,
        }) => {
            assert_eq!((op, problem), (operation, want));
        }
        other => panic!("{operation}: expected a refusal ({want}), got {other:?}"),
    }
}

#[test]
fn every_writer_refuses_an_unsuitable_lock_and_runs_under_a_suitable_one() {
    for &(name, exclusive, operation) in OPERATIONS {
        let dir = tempfile::tempdir().unwrap();
        let (mut repo, ids) = source(&dir, 1);
        let root = dir.path().join("src");
        // Setting up without a lock, on purpose.
        let extra_key = repo
            .add_key(&LockGuard::unlocked(&repo), "other", &key_opts())
            .unwrap();
        let scene = Scene {
            dir,
            ids,
            extra_key,
        };
        let before = files(&root);

        // A lock on another repository.
        let other = init(local(&scene.dir, "other"), 2);
        let foreign = lock(&other, true).unwrap();
        let result = operation(&mut repo, &foreign, &scene);
        refused(result, name, LockProblem::OtherRepository);
        drop(foreign);

        // A lock that could not be refreshed in time.
        let expired = lock(&repo, true).unwrap();
        expired.give_up_for_test();
        let result = operation(&mut repo, &expired, &scene);
        refused(result, name, LockProblem::Expired);
        drop(expired);

        let shared = lock(&repo, false).unwrap();
        assert!(!shared.is_exclusive());
        if exclusive {
            let result = operation(&mut repo, &shared, &scene);
            refused(result, name, LockProblem::NotExclusive);
            drop(shared);
            assert_eq!(files(&root), before, "{name} changed files when refused");
            let held = lock(&repo, true).unwrap();
            assert!(held.is_exclusive());
            operation(&mut repo, &held, &scene).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else {
            assert_eq!(files(&root), before, "{name} changed files when refused");
            operation(&mut repo, &shared, &scene).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn an_exclusive_lock_or_a_deliberate_unlocked_guard_also_allow_adding() {
    let dir = tempfile::tempdir().unwrap();
    let (mut repo, ids) = source(&dir, 2);
    let scene = Scene {
        dir,
        ids,
        extra_key: Id::default(),
    };
    let held = lock(&repo, true).unwrap();
    backup(&mut repo, &held, &scene).unwrap();
    drop(held);
    let unlocked = LockGuard::unlocked(&repo);
    assert!(unlocked.is_unlocked() && !unlocked.is_exclusive());
    backup(&mut repo, &unlocked, &scene).unwrap();
    prune(&mut repo, &unlocked, &scene).unwrap();
    assert!(
        repo.locks().unwrap().0.is_empty(),
        "no lock file is written"
    );
    // Even an unlocked guard belongs to one repository.
    let other = init(local(&scene.dir, "other"), 2);
    let result = prune(&mut repo, &LockGuard::unlocked(&other), &scene);
    refused(result, "prune", LockProblem::OtherRepository);
}

#[test]
fn refusals_say_what_is_missing_in_one_line() {
    let err = Error::LockNotSuitable {
        operation: "prune",
        problem: LockProblem::NotExclusive,
    };
    assert_eq!(err.to_string(), "prune needs an exclusive lock");
    for problem in [LockProblem::OtherRepository, LockProblem::Expired] {
        let err = Error::LockNotSuitable {
            operation: "backup",
            problem,
        };
        assert!(!err.to_string().contains('\n'));
    }
}
