//! Cairn's locks and restic's locks see each other.

#[path = "common/restic_cli.rs"]
mod common;

use cairn::format::{GoTime, Lock};
use cairn::lock::LockOptions;
use cairn::{Error, FileType, Id, Repository};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

fn lock_ids(repo: &Repository) -> Vec<Id> {
    repo.list_ids(FileType::Lock)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn backup(path: &Path, dir: &Path) -> std::process::Output {
    let src = sample_tree(dir);
    restic(path, PASSWORD, ["backup".as_ref(), src.as_os_str()])
}

fn assert_locked(out: &std::process::Output) {
    assert!(
        !out.status.success(),
        "restic ran despite the lock:\n{}",
        describe(out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("repository is already locked"), "{err}");
}

#[test]
fn a_cairn_exclusive_lock_stops_restic() {
    let (dir, path, repo) = cairn_repo(2);
    let guard = repo.lock(true, None).unwrap();
    let out = backup(&path, dir.path());
    assert_locked(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    // restic read our lock file and names this process.
    assert!(
        err.contains(&format!("PID {} on", std::process::id())),
        "{err}"
    );
    drop(guard);
    assert!(lock_ids(&repo).is_empty(), "lock file left behind");
    ok(backup(&path, dir.path()));
}

#[test]
fn a_cairn_shared_lock_allows_backup_but_not_prune() {
    let (dir, path, repo) = cairn_repo(2);
    let guard = repo.lock(false, None).unwrap();
    ok(backup(&path, dir.path()));
    assert_locked(&restic(&path, PASSWORD, ["prune"]));
    // restic lists and decrypts our lock.
    let listed = ok(restic(&path, PASSWORD, ["list", "locks"]));
    assert_eq!(listed.trim(), guard.id().to_hex());
    let cat = ok(restic(
        &path,
        PASSWORD,
        ["cat", "lock", &guard.id().to_hex()],
    ));
    let lock: serde_json::Value = serde_json::from_str(&cat).unwrap();
    assert_eq!(lock["pid"], std::process::id());
    assert_eq!(lock["exclusive"], false);
    drop(guard);
    ok(restic(&path, PASSWORD, ["prune"]));
}

/// Feeds the waiting `restic backup --stdin` some data and lets it finish
/// (restic refuses an empty stdin).
fn finish(child: &mut std::process::Child) {
    use std::io::Write;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(b"some data\n").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "restic backup --stdin failed: {status}");
}

#[test]
fn a_restic_lock_stops_an_exclusive_cairn_lock() {
    let (_dir, path, repo) = cairn_repo(2);
    // `backup --stdin` holds a shared lock until its input ends.
    let mut child = spawn_restic(&path, PASSWORD, &["backup", "--stdin"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while lock_ids(&repo).is_empty() {
        assert!(Instant::now() < deadline, "restic never created its lock");
        assert!(
            child.try_wait().unwrap().is_none(),
            "restic backup ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let restic_lock = lock_ids(&repo)[0];
    let theirs = repo.load_lock(&restic_lock).unwrap();
    assert_eq!(theirs.pid, child.id());
    assert!(!theirs.exclusive);

    match repo.lock(true, None) {
        Err(Error::Locked { holder, exclusive }) => {
            assert!(!exclusive);
            assert!(
                holder.contains(&format!("PID {} on", child.id())),
                "{holder}"
            );
            assert!(holder.contains(&restic_lock.short()), "{holder}");
        }
        other => panic!("expected a lock conflict, got {other:?}"),
    }
    // Shared with shared is fine.
    drop(repo.lock(false, None).unwrap());

    // The CLI: an exclusive command exits with 11, a shared one works.
    let out = cairn(&path, PASSWORD, ["key", "remove", "0000"]);
    assert_eq!(out.status.code(), Some(11), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("unable to create lock in backend: repository is already locked by PID"),
        "{err}"
    );
    assert!(
        err.contains("the `unlock` command can be used to remove stale locks"),
        "{err}"
    );
    ok(cairn(&path, PASSWORD, ["key", "list"]));
    // `--no-lock` skips the shared lock entirely.
    ok(cairn(&path, PASSWORD, ["--no-lock", "key", "list"]));
    // A live restic lock is not stale: unlock leaves it.
    ok(cairn(&path, PASSWORD, ["unlock"]));
    assert_eq!(lock_ids(&repo), vec![restic_lock]);

    finish(&mut child);
    assert!(lock_ids(&repo).is_empty());
    drop(repo.lock(true, None).unwrap());
}

#[test]
fn retry_lock_waits_for_restic_to_finish() {
    let (_dir, path, repo) = cairn_repo(2);
    let mut child = spawn_restic(&path, PASSWORD, &["backup", "--stdin"]);
    while lock_ids(&repo).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "restic backup ended early"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        finish(&mut child);
    });
    let out = cairn(
        &path,
        PASSWORD,
        ["--retry-lock", "1m", "key", "remove", "0000"],
    );
    releaser.join().unwrap();
    // It got the lock, then failed to find the key: exit 1, not 11.
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("repo already locked, waiting up to 1m0s for the lock"),
        "{stdout}"
    );
}

/// Writes a lock as if made by another process.
fn plant(repo: &Repository, exclusive: bool, hostname: &str, pid: u32, age: Duration) -> Id {
    let lock = Lock {
        time: GoTime::from_system_time(SystemTime::now() - age, 0),
        exclusive,
        hostname: hostname.into(),
        username: "ghost".into(),
        pid,
        uid: 0,
        gid: 0,
    };
    repo.save_unpacked(FileType::Lock, &lock.to_json()).unwrap()
}

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stale_locks_block_until_cairn_unlock_removes_them() {
    let (dir, path, repo) = cairn_repo(2);
    let me = cairn::host::hostname();
    let dead = plant(&repo, true, &me, dead_pid(), Duration::ZERO);
    let live = plant(&repo, false, "another-host", 4242, Duration::from_secs(60));
    // Stale or not, an exclusive lock conflicts, for restic and for Cairn.
    assert_locked(&backup(&path, dir.path()));
    assert!(matches!(repo.lock(false, None), Err(Error::Locked { .. })));

    let out = ok(cairn(&path, PASSWORD, ["unlock"]));
    assert_eq!(out.trim(), "successfully removed 1 locks");
    assert_eq!(lock_ids(&repo), vec![live]);
    assert!(!lock_ids(&repo).contains(&dead));
    ok(backup(&path, dir.path()));

    let out = ok(cairn(&path, PASSWORD, ["unlock", "--remove-all"]));
    assert_eq!(out.trim(), "successfully removed 1 locks");
    assert!(lock_ids(&repo).is_empty());
    // Nothing to do: nothing printed.
    assert_eq!(ok(cairn(&path, PASSWORD, ["unlock"])), "");
}

#[test]
fn restic_unlock_removes_stale_cairn_format_locks() {
    let (_dir, path, repo) = cairn_repo(2);
    plant(
        &repo,
        true,
        &cairn::host::hostname(),
        dead_pid(),
        Duration::ZERO,
    );
    plant(
        &repo,
        false,
        "another-host",
        1,
        Duration::from_secs(2 * 3600),
    );
    let live = plant(&repo, false, "another-host", 1, Duration::ZERO);
    ok(restic(&path, PASSWORD, ["unlock"]));
    assert_eq!(lock_ids(&repo), vec![live]);
    // And Cairn agrees there is nothing stale left.
    assert!(repo.unlock(false).unwrap().is_empty());
}

#[test]
fn refreshed_locks_stay_readable_by_restic() {
    let (dir, path, repo) = cairn_repo(1);
    let mut opts = LockOptions::new(true);
    opts.refresh_interval = Duration::from_millis(200);
    opts.stale_timeout = Duration::from_secs(60);
    let guard = repo.lock_with(&opts).unwrap();
    let first = guard.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while guard.id() == first {
        assert!(Instant::now() < deadline, "lock never refreshed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = guard.id();
    let listed = ok(restic(&path, PASSWORD, ["list", "locks"]));
    assert!(
        !listed.contains(&first.to_hex()),
        "old lock file still there: {listed}"
    );
    assert!(guard.is_valid());
    assert_locked(&backup(&path, dir.path()));
    drop(guard);
    assert!(lock_ids(&repo).is_empty(), "{now} left behind");
    ok(backup(&path, dir.path()));
}
