//! Conflict, staleness and refresh rules against a local repository.

use super::*;
use crate::{InitOptions, LocalBackend};
use cairn_backend::{Backend, BackendError, FileInfo};
use cairn_crypto::ScryptParams;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Fast options: no real waits.
fn quick(exclusive: bool) -> LockOptions {
    let mut o = LockOptions::new(exclusive);
    o.wait_before_check = Duration::from_millis(5);
    o.retry_sleep_start = Duration::from_millis(10);
    o.retry_sleep_max = Duration::from_millis(40);
    o
}

/// A store that can be told to fail every write.
struct Flaky {
    inner: LocalBackend,
    fail_writes: AtomicBool,
}

impl Backend for Flaky {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> cairn_backend::Result<()> {
        self.inner.create()
    }
    fn list(&self, t: FileType) -> cairn_backend::Result<Vec<FileInfo>> {
        self.inner.list(t)
    }
    fn read(&self, t: FileType, n: &str) -> cairn_backend::Result<Vec<u8>> {
        self.inner.read(t, n)
    }
    fn read_range(&self, t: FileType, n: &str, o: u64, l: u64) -> cairn_backend::Result<Vec<u8>> {
        self.inner.read_range(t, n, o, l)
    }
    fn write(&self, t: FileType, n: &str, d: &[u8]) -> cairn_backend::Result<()> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(BackendError::InvalidName(format!("refusing to write {n}")));
        }
        self.inner.write(t, n, d)
    }
    fn remove(&self, t: FileType, n: &str) -> cairn_backend::Result<()> {
        self.inner.remove(t, n)
    }
    fn stat(&self, t: FileType, n: &str) -> cairn_backend::Result<FileInfo> {
        self.inner.stat(t, n)
    }
}

fn setup() -> (tempfile::TempDir, Arc<Flaky>, Repository) {
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(Flaky {
        inner: LocalBackend::new(dir.path().join("repo")),
        fail_writes: AtomicBool::new(false),
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

fn lock_ids(repo: &Repository) -> Vec<Id> {
    let mut ids: Vec<Id> = repo
        .list_ids(FileType::Lock)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    ids
}

/// Writes a foreign lock file directly.
fn plant(repo: &Repository, exclusive: bool, hostname: &str, pid: u32, age: Duration) -> Id {
    let now = SystemTime::now() - age;
    let lock = Lock {
        time: GoTime::from_system_time(now, 0),
        exclusive,
        hostname: hostname.into(),
        username: "someone".into(),
        pid,
        uid: 1,
        gid: 2,
    };
    repo.save_unpacked(FileType::Lock, &lock.to_json()).unwrap()
}

/// The PID of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn conflict_table() {
    let (_d, _b, repo) = setup();
    for (held, wanted, conflicts) in [
        (false, false, false),
        (false, true, true),
        (true, false, true),
        (true, true, true),
    ] {
        let other = plant(&repo, held, "elsewhere", 77, Duration::ZERO);
        let got = repo.lock_with(&quick(wanted));
        match (conflicts, got) {
            (true, Err(Error::Locked { holder, exclusive })) => {
                assert_eq!(exclusive, held);
                assert!(
                    holder.contains("PID 77 on elsewhere by someone"),
                    "{holder}"
                );
                assert!(holder.contains(&other.short()), "{holder}");
                // Our own attempt left nothing behind.
                assert_eq!(lock_ids(&repo), vec![other]);
            }
            (false, Ok(guard)) => {
                assert_eq!(lock_ids(&repo).len(), 2);
                drop(guard);
                assert_eq!(lock_ids(&repo), vec![other]);
            }
            (c, r) => panic!("held {held} wanted {wanted}: expected conflict={c}, got {r:?}"),
        }
        repo.backend()
            .remove(FileType::Lock, &other.to_hex())
            .unwrap();
    }
}

#[test]
fn own_locks_conflict_with_each_other_like_any_other() {
    let (_d, _b, repo) = setup();
    let shared = repo.lock_with(&quick(false)).unwrap();
    let second = repo.lock_with(&quick(false)).unwrap();
    assert!(matches!(
        repo.lock_with(&quick(true)),
        Err(Error::Locked { .. })
    ));
    drop(shared);
    drop(second);
    assert!(lock_ids(&repo).is_empty());
    let excl = repo.lock_with(&quick(true)).unwrap();
    let e = repo.lock_with(&quick(false)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("repository is already locked exclusively by PID"),
        "{e}"
    );
    excl.release().unwrap();
    assert!(lock_ids(&repo).is_empty());
}

#[test]
fn written_lock_describes_this_process() {
    let (_d, _b, repo) = setup();
    let guard = repo.lock_with(&quick(true)).unwrap();
    let stored = repo.load_lock(&guard.id()).unwrap();
    assert!(stored.exclusive);
    assert_eq!(stored.pid, std::process::id());
    assert_eq!(stored.hostname, host::hostname());
    assert_eq!(stored, guard.lock());
}

#[test]
fn stale_locks_still_conflict_until_unlocked() {
    let (_d, _b, repo) = setup();
    let dead = plant(&repo, true, &host::hostname(), dead_pid(), Duration::ZERO);
    let old = plant(&repo, false, "elsewhere", 1, Duration::from_secs(31 * 60));
    let alive = plant(&repo, false, "elsewhere", 1, Duration::from_secs(60));
    assert!(matches!(
        repo.lock_with(&quick(false)),
        Err(Error::Locked { .. })
    ));
    let mut removed = repo.unlock(false).unwrap();
    removed.sort();
    let mut expected = vec![dead, old];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(lock_ids(&repo), vec![alive]);
    repo.lock_with(&quick(false)).unwrap();
    assert_eq!(repo.unlock(true).unwrap(), vec![alive]);
    assert!(lock_ids(&repo).is_empty());
}

#[test]
fn staleness_rules() {
    let now = SystemTime::now();
    let mk = |host: &str, pid: u32, age: u64| Lock {
        time: GoTime::from_system_time(now - Duration::from_secs(age), 3600),
        exclusive: false,
        hostname: host.into(),
        username: String::new(),
        pid,
        uid: 0,
        gid: 0,
    };
    let me = host::hostname();
    assert!(!is_stale(
        &mk(&me, std::process::id(), 0),
        now,
        STALE_TIMEOUT
    ));
    assert!(is_stale(
        &mk(&me, std::process::id(), 31 * 60),
        now,
        STALE_TIMEOUT
    ));
    assert!(is_stale(&mk(&me, dead_pid(), 0), now, STALE_TIMEOUT));
    assert!(is_stale(&mk(&me, 0, 0), now, STALE_TIMEOUT));
    // Another host's process cannot be checked: only age counts.
    assert!(!is_stale(
        &mk("elsewhere", dead_pid(), 29 * 60),
        now,
        STALE_TIMEOUT
    ));
    assert!(is_stale(&mk("elsewhere", 1, 31 * 60), now, STALE_TIMEOUT));
    // PID 1 exists (and belongs to another user when not root).
    assert!(process_exists(1));
    assert!(!process_exists(u32::MAX));
}

#[test]
fn empty_lock_files_are_ignored_and_unreadable_ones_fail() {
    let (_d, backend, repo) = setup();
    backend
        .inner
        .write(FileType::Lock, &"0".repeat(64), b"")
        .unwrap();
    let guard = repo.lock_with(&quick(true)).unwrap();
    drop(guard);
    let junk = Id::hash(b"junk");
    backend
        .inner
        .write(FileType::Lock, &junk.to_hex(), b"junk")
        .unwrap();
    let err = repo.lock_with(&quick(false)).unwrap_err();
    assert!(!matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains(&junk.to_hex()), "{err}");
    // Plain unlock leaves unreadable and empty files; --remove-all clears all.
    assert!(repo.unlock(false).unwrap().is_empty());
    assert_eq!(repo.unlock(true).unwrap().len(), 2);
}

#[test]
fn retry_waits_for_the_other_lock_to_go() {
    let (_d, _b, repo) = setup();
    let other = plant(&repo, true, "elsewhere", 1, Duration::ZERO);
    let backend = Arc::clone(repo.backend());
    let remover = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        backend.remove(FileType::Lock, &other.to_hex()).unwrap();
    });
    let mut opts = quick(true);
    opts.retry = Some(Duration::from_secs(5));
    let started = Instant::now();
    let guard = repo.lock_with(&opts).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    remover.join().unwrap();
    drop(guard);

    // A budget that runs out fails with the conflict, after about the budget.
    plant(&repo, true, "elsewhere", 1, Duration::ZERO);
    opts.retry = Some(Duration::from_millis(200));
    let started = Instant::now();
    assert!(matches!(repo.lock_with(&opts), Err(Error::Locked { .. })));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn refresh_replaces_the_lock_file() {
    let (_d, _b, repo) = setup();
    let mut opts = quick(false);
    opts.refresh_interval = Duration::from_millis(100);
    opts.stale_timeout = Duration::from_secs(60);
    let guard = repo.lock_with(&opts).unwrap();
    let first = guard.id();
    let first_time = guard.lock().time;
    std::thread::sleep(Duration::from_millis(600));
    let now_id = guard.id();
    assert_ne!(now_id, first);
    assert_eq!(lock_ids(&repo), vec![now_id], "old file must be removed");
    assert!(repo.load_lock(&now_id).unwrap().time > first_time);
    assert!(guard.is_valid());
    drop(guard);
    assert!(lock_ids(&repo).is_empty());
}

#[test]
fn failed_refreshes_invalidate_the_lock() {
    let (_d, backend, repo) = setup();
    let mut opts = quick(true);
    opts.refresh_interval = Duration::from_millis(100);
    // Refreshability timeout = 400 ms − 150 ms = 250 ms.
    opts.stale_timeout = Duration::from_millis(400);
    let guard = repo.lock_with(&opts).unwrap();
    backend.fail_writes.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while guard.is_valid() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!guard.is_valid(), "lock still valid after refreshes failed");
    let err = guard.check().unwrap_err().to_string();
    assert!(err.contains("failed to refresh lock in time"), "{err}");
    // The given-up lock is removed so it cannot block others.
    assert!(lock_ids(&repo).is_empty());
}

#[test]
fn stale_refresh_gives_up_when_the_lock_was_removed() {
    let (_d, backend, repo) = setup();
    let mut opts = quick(false);
    opts.refresh_interval = Duration::from_millis(100);
    opts.stale_timeout = Duration::from_millis(400);
    let guard = repo.lock_with(&opts).unwrap();
    // Refreshes fail until the lock is overdue; meanwhile someone runs
    // `unlock --remove-all`. The careful refresh notices before writing.
    backend.fail_writes.store(true, Ordering::SeqCst);
    repo.unlock(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while guard.is_valid() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!guard.is_valid());
    assert!(guard.check().unwrap_err().to_string().contains("removed"));
    assert!(
        lock_ids(&repo).is_empty(),
        "no replacement lock may be left"
    );
}

#[test]
fn unconfirmed_locks_are_confirmed_or_given_up_later() {
    let (_dir, _backend, repo) = setup();
    let mut opts = quick(true);
    opts.wait_before_check = Duration::from_millis(600);

    // No competitor: the lock is written at once and confirmed after the
    // wait, which counts from the write, not from the confirmation call.
    let started = Instant::now();
    let guard = repo.lock_unconfirmed(&opts).unwrap();
    assert!(started.elapsed() < opts.wait_before_check);
    assert_eq!(lock_ids(&repo), vec![guard.id()]);
    std::thread::sleep(Duration::from_millis(300));
    let confirming = Instant::now();
    repo.confirm_lock(&guard, &opts).unwrap();
    assert!(started.elapsed() >= opts.wait_before_check);
    assert!(confirming.elapsed() < opts.wait_before_check);
    drop(guard);
    assert!(lock_ids(&repo).is_empty());

    // Another process locks at the same moment (after our first look):
    // the confirmation fails, and dropping the guard removes our file.
    let guard = repo.lock_unconfirmed(&opts).unwrap();
    let theirs = plant(&repo, false, "other-host", 4242, Duration::ZERO);
    let err = repo.confirm_lock(&guard, &opts).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(guard);
    assert_eq!(lock_ids(&repo), vec![theirs]);

    // The blocking form waits and checks again in one call.
    let started = Instant::now();
    let err = repo.lock_with(&opts).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(
        started.elapsed() < opts.wait_before_check,
        "first look fails"
    );
    assert_eq!(lock_ids(&repo), vec![theirs]);
}
