//! Cancelling one operation through its `cairn::Cancel` token: it fails
//! with `Error::Interrupted`, another operation running at the same time
//! in the same process goes on, and the repository stays consistent.
//! Nothing here touches the process-wide interrupt flag.

#[path = "common/restic_cli.rs"]
mod common;

use cairn::backup::{BackupOptions, BackupProgress};
use cairn::restore::RestoreOptions;
use cairn::write::WriteOptions;
use cairn::{Cancel, CheckOptions, Error, NoProgress, ReadDataSubset, Repository};
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A folder of `files` files of 10 kB, their content depending on `seed`.
fn folder(dir: &Path, name: &str, files: usize, seed: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(&path).unwrap();
    for i in 0..files {
        let content: Vec<u8> = (0..10_000u32)
            .map(|j| (j as u8) ^ (i as u8).wrapping_mul(31) ^ seed)
            .chain((i as u32).to_le_bytes())
            .collect();
        std::fs::write(path.join(format!("f{i:04}")), content).unwrap();
    }
    path
}

/// Waits up to a minute for `flag`.
fn wait_for(flag: impl Fn() -> bool) -> bool {
    let until = Instant::now() + Duration::from_secs(60);
    while !flag() {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Announces the first file saved, then holds that worker until the
/// token is cancelled, so the cancel surely comes mid-backup.
struct PauseAtFirstFile {
    started: Arc<AtomicBool>,
    cancel: Cancel,
}

impl BackupProgress for PauseAtFirstFile {
    fn file_done(&self, _path: &Path, _size: u64, _read: bool) {
        if !self.started.swap(true, Ordering::SeqCst) {
            assert!(wait_for(|| self.cancel.is_cancelled()));
        }
    }
}

fn snapshot_count(repo: &Repository) -> usize {
    repo.list_ids(cairn::FileType::Snapshot).unwrap().len()
}

/// Every file in the repository but locks.
fn repo_files(path: &Path) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.insert(p);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(path, &mut out);
    out.retain(|p| !p.to_string_lossy().contains("/locks/"));
    out
}

fn assert_checks_clean(path: &Path) {
    let repo = open(path, PASSWORD).unwrap();
    let opts = CheckOptions {
        read_data: Some(ReadDataSubset::All),
        ..CheckOptions::default()
    };
    let report = repo.check(&opts, &NoProgress).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    ok(restic(path, PASSWORD, ["check", "--read-data"]));
}

#[test]
fn cancelling_one_backup_leaves_a_concurrent_one_running() {
    let (dir, path, repo) = cairn_repo(2);
    drop(repo);
    let a_src = folder(dir.path(), "a", 200, 1);
    let b_src = folder(dir.path(), "b", 50, 2);
    // Two values on one repository, as two jobs of one program would have.
    let mut repo_a = open(&path, PASSWORD).unwrap();
    repo_a.load_index().unwrap();
    let mut repo_b = open(&path, PASSWORD).unwrap();
    repo_b.load_index().unwrap();
    let lock_a = repo_a.lock(false, None).unwrap();
    let lock_b = repo_b.lock(false, None).unwrap();

    let cancel_a = Cancel::new();
    let a_started = Arc::new(AtomicBool::new(false));
    let a_done = Arc::new(AtomicBool::new(false));
    let b_waited = Arc::new(AtomicBool::new(false));
    let progress_a = PauseAtFirstFile {
        started: a_started.clone(),
        cancel: cancel_a.clone(),
    };
    let opts_a = BackupOptions {
        paths: vec![a_src],
        cancel: cancel_a.clone(),
        ..BackupOptions::default()
    };
    // B holds its snapshot back until A has returned: B is surely running
    // while A is cancelled, and must still complete.
    let (done, waited) = (a_done.clone(), b_waited.clone());
    let opts_b = BackupOptions {
        paths: vec![b_src],
        before_commit: Some(Box::new(move || {
            waited.store(wait_for(|| done.load(Ordering::SeqCst)), Ordering::SeqCst);
            Ok(())
        })),
        ..BackupOptions::default()
    };

    let (a, b, a_latency) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            let r = repo_a.backup(&lock_a, opts_a, &progress_a);
            a_done.store(true, Ordering::SeqCst);
            (r, Instant::now())
        });
        let b = s.spawn(|| repo_b.backup(&lock_b, opts_b, &NoProgress));
        assert!(wait_for(|| a_started.load(Ordering::SeqCst)));
        let cancelled_at = Instant::now();
        cancel_a.cancel();
        let (a, a_end) = a.join().unwrap();
        (a, b.join().unwrap(), a_end - cancelled_at)
    });

    assert!(matches!(a, Err(Error::Interrupted)), "{a:?}");
    assert!(a_latency < Duration::from_secs(10), "took {a_latency:?}");
    assert!(b_waited.load(Ordering::SeqCst), "A never returned");
    let b = b.unwrap();
    let id = b.snapshot_id.expect("B saved its snapshot");
    drop((lock_a, lock_b));
    let fresh = open(&path, PASSWORD).unwrap();
    let ids: Vec<_> = fresh.list_ids(cairn::FileType::Snapshot).unwrap();
    assert_eq!(ids.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [id]);
    assert_checks_clean(&path);
}

#[test]
fn cancelling_a_restore_leaves_a_concurrent_check_running() {
    let (dir, _path, repo) = cairn_repo(2);
    let src = folder(dir.path(), "src", 100, 3);
    let mut repo = repo;
    repo.load_index().unwrap();
    let lock = repo.lock(true, None).unwrap();
    let summary = repo
        .backup(
            &lock,
            BackupOptions {
                paths: vec![src],
                ..BackupOptions::default()
            },
            &NoProgress,
        )
        .unwrap();
    let tree = summary.snapshot.tree;
    drop(lock);

    /// Holds the restore at its first finished file until cancelled.
    struct PauseRestore {
        started: AtomicBool,
        cancel: Cancel,
    }
    impl cairn::restore::RestoreProgress for PauseRestore {
        fn file_done(&self, _bytes: u64) {
            if !self.started.swap(true, Ordering::SeqCst) {
                assert!(wait_for(|| self.cancel.is_cancelled()));
            }
        }
    }
    let cancel = Cancel::new();
    let progress = PauseRestore {
        started: AtomicBool::new(false),
        cancel: cancel.clone(),
    };
    let target = dir.path().join("target");
    let opts = RestoreOptions {
        target: target.clone(),
        cancel: cancel.clone(),
        ..RestoreOptions::default()
    };
    let check_opts = CheckOptions {
        read_data: Some(ReadDataSubset::All),
        ..CheckOptions::default()
    };
    let (restored, checked) = std::thread::scope(|s| {
        let r = s.spawn(|| cairn::restore::restore(&repo, &tree, None, &opts, &progress));
        let c = s.spawn(|| repo.check(&check_opts, &NoProgress));
        assert!(wait_for(|| progress.started.load(Ordering::SeqCst)));
        cancel.cancel();
        (r.join().unwrap(), c.join().unwrap())
    });
    assert!(matches!(restored, Err(Error::Interrupted)), "{restored:?}");
    let report = checked.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.snapshots, 1);
    let restored_files = std::fs::read_dir(target.join("src")).map_or(0, |d| d.count());
    assert!(restored_files < 100, "the restore was not stopped");
}

#[test]
fn a_token_cancelled_before_the_start_stops_every_operation() {
    let (dir, path, repo) = cairn_repo(2);
    let src = sample_tree(dir.path());
    let mut repo = repo;
    repo.load_index().unwrap();
    let lock = repo.lock(true, None).unwrap();
    let first = repo
        .backup(
            &lock,
            BackupOptions {
                paths: vec![src.clone()],
                ..BackupOptions::default()
            },
            &NoProgress,
        )
        .unwrap();
    let (snaps, _) = repo.snapshots().unwrap();
    let tree = first.snapshot.tree;
    let before = repo_files(&path);
    let cancel = Cancel::new();
    cancel.cancel();
    let interrupted = |what: &str, r: Result<(), Error>| {
        assert!(matches!(r, Err(Error::Interrupted)), "{what}: {r:?}");
    };

    let backup = BackupOptions {
        paths: vec![src],
        cancel: cancel.clone(),
        ..BackupOptions::default()
    };
    interrupted("backup", repo.backup(&lock, backup, &NoProgress).map(drop));
    let target = dir.path().join("target");
    let restore = RestoreOptions {
        target: target.clone(),
        cancel: cancel.clone(),
        ..RestoreOptions::default()
    };
    interrupted(
        "restore",
        cairn::restore::restore(&repo, &tree, None, &restore, &NoProgress).map(drop),
    );
    assert!(!target.exists());
    let check = CheckOptions {
        cancel: cancel.clone(),
        ..CheckOptions::default()
    };
    interrupted("check", repo.check(&check, &NoProgress).map(drop));
    let stats = cairn::stats::StatsOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted(
        "stats",
        cairn::stats::stats(&repo, &[tree], &stats).map(drop),
    );
    let diff = cairn::diff::DiffOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted(
        "diff",
        cairn::diff::diff(&repo, &tree, &tree, &diff).map(drop),
    );
    let rewrite = cairn::rewrite::RewriteOptions {
        new_host: Some("elsewhere".into()),
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted(
        "rewrite",
        repo.rewrite_snapshots(&lock, &snaps, &rewrite, &NoProgress)
            .map(drop),
    );
    let repair = cairn::repair_snapshots::RepairSnapshotsOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted(
        "repair snapshots",
        repo.repair_snapshots(&lock, &snaps, &repair, &NoProgress)
            .map(drop),
    );
    let recover = cairn::recover::RecoverOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted(
        "recover",
        repo.recover(&lock, &recover, &NoProgress).map(drop),
    );
    let prune = cairn::PruneOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted("prune", repo.prune(&lock, &prune, &NoProgress).map(drop));
    interrupted(
        "repair index",
        repo.repair_index_with(&lock, false, &NoProgress, &cancel)
            .map(drop),
    );
    let packs: BTreeSet<_> = repo
        .list_ids(cairn::FileType::Pack)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    interrupted(
        "repair packs",
        repo.repair_packs(
            &lock,
            &packs,
            &WriteOptions::default(),
            &NoProgress,
            &cancel,
        )
        .map(drop),
    );
    let forget = cairn::ForgetOptions {
        ids: vec![first.snapshot_id.expect("a snapshot").to_hex()],
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted("forget", repo.forget(&lock, &forget).map(drop));
    // Waiting for a lock held by another (here: `lock`) stops too.
    let wait = cairn::LockOptions {
        retry: Some(Duration::from_secs(60)),
        cancel: cancel.clone(),
        ..cairn::LockOptions::new(false)
    };
    let waited = Instant::now();
    interrupted("lock wait", repo.lock_with(&wait).map(drop));
    assert!(
        waited.elapsed() < Duration::from_secs(30),
        "{:?}",
        waited.elapsed()
    );
    let (_dst_dir, _dst_path, mut dst) = cairn_repo(2);
    let dst_lock = dst.lock(false, None).unwrap();
    let copy = cairn::copy::CopyOptions {
        cancel: cancel.clone(),
        ..Default::default()
    };
    interrupted(
        "copy",
        cairn::copy::copy_snapshots(&mut repo, &mut dst, &dst_lock, &copy, &NoProgress).map(drop),
    );
    assert_eq!(snapshot_count(&dst), 0);

    assert_eq!(repo_files(&path), before, "a cancelled operation wrote");
    drop(lock);
    assert_checks_clean(&path);
}
