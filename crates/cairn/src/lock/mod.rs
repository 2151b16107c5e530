//! Repository locks, compatible with restic's (`locks/<id>`).
//!
//! A process that reads or changes a repository leaves a small encrypted
//! lock file saying who it is. Many shared locks may coexist (backup,
//! restore, …); an exclusive lock (prune, check, …) tolerates no other
//! lock at all. The rules, as restic applies them:
//!
//! - Taking a lock: list the existing locks and fail on a conflict, write
//!   our own, wait 200 ms, check again, and on a conflict remove our own
//!   and fail. Zero-byte lock files (interrupted uploads) are ignored. A
//!   lock file that cannot be read is retried a few times and then fails
//!   the attempt, because it might be a valid lock we cannot see.
//! - Stale locks (older than 30 minutes, or made on this host by a
//!   process that no longer exists) still conflict; only
//!   [`Repository::unlock`] removes them.
//! - A held lock is refreshed every 5 minutes by a background thread (see
//!   [`LockGuard`]); its file is removed when the guard is dropped.
//!
//! Every library function that changes a repository takes the guard of
//! the lock it runs under and checks it ([`LockGuard::allows`]), failing
//! with [`Error::LockNotSuitable`] when the guard is shared where restic
//! takes an exclusive lock (prune, forget, tag, repair, `rewrite --forget`,
//! key remove and passwd, migrate), belongs to another repository, or has
//! been given up. Adding writers (backup, copy's destination, recover,
//! rewrite, key add) accept a shared lock. Plans and dry runs that restic
//! allows unlocked ([`Repository::plan_prune`],
//! [`Repository::plan_forget`]) take none. A caller that decides to run
//! unlocked (restic's `--no-lock`) says so with [`LockGuard::unlocked`].
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use cairn::{LocalBackend, PruneOptions, Repository};
//! let mut repo = Repository::open(Arc::new(LocalBackend::new("/srv/repo")), "pw")?;
//! let lock = repo.lock(true, None)?;
//! let report = repo.prune(&lock, &PruneOptions::default(), &cairn::NoProgress)?;
//! lock.release()?;
//! # Ok::<(), cairn::Error>(())
//! ```

mod duration;
mod guard;

pub use duration::{go_duration_string, parse_go_duration};
pub use guard::{release_all_held, LockGuard, LockProblem};

use crate::repository::Repository;
use crate::{host, Error, Result};
use cairn_backend::FileType;
use cairn_format::{GoTime, Id, Lock};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime};

/// restic's lock timings.
pub const STALE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is rewritten.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Wait between writing a lock and checking for others again.
pub const WAIT_BEFORE_CHECK: Duration = Duration::from_millis(200);

/// How to take a lock. [`LockOptions::new`] gives restic's timings;
/// tests shorten them.
#[derive(Clone, Debug)]
pub struct LockOptions {
    /// Exclusive (no other lock allowed) or shared (only exclusive locks
    /// conflict).
    pub exclusive: bool,
    /// `--retry-lock`: how long to keep retrying while the repository is
    /// locked by someone else. `None` fails at once.
    pub retry: Option<Duration>,
    /// First wait between retries; it doubles each time. Also the first
    /// wait before re-reading an unreadable lock file.
    pub retry_sleep_start: Duration,
    /// Longest wait between retries.
    pub retry_sleep_max: Duration,
    /// Wait between writing our lock and checking for others again.
    pub wait_before_check: Duration,
    /// How often the lock is rewritten with a new time.
    pub refresh_interval: Duration,
    /// Age after which a lock counts as stale.
    pub stale_timeout: Duration,
    /// Called once, with the retry budget, when the repository is found
    /// locked and retrying starts (restic prints "repo already locked,
    /// waiting up to … for the lock").
    pub on_wait: Option<fn(Duration)>,
    /// Stops waiting for the lock (`retry`) with [`Error::Interrupted`]
    /// once cancelled.
    pub cancel: crate::Cancel,
}

impl LockOptions {
    /// restic's defaults for a shared or exclusive lock, without retries.
    pub fn new(exclusive: bool) -> LockOptions {
        LockOptions {
            exclusive,
            retry: None,
            retry_sleep_start: Duration::from_secs(5),
            retry_sleep_max: Duration::from_secs(60),
            wait_before_check: WAIT_BEFORE_CHECK,
            refresh_interval: REFRESH_INTERVAL,
            stale_timeout: STALE_TIMEOUT,
            on_wait: None,
            cancel: crate::Cancel::new(),
        }
    }

    /// How long a lock may go without a successful refresh before the
    /// holder must assume others consider it stale: restic allows
    /// 30 min − 1.5 × 5 min, keeping a margin for clock drift.
    pub fn refreshability_timeout(&self) -> Duration {
        self.stale_timeout
            .saturating_sub(self.refresh_interval * 3 / 2)
    }
}

/// A lock file found in the repository.
#[derive(Clone, Debug)]
pub struct LockEntry {
    /// The file's ID.
    pub id: Id,
    /// Its contents.
    pub lock: Lock,
}

/// True if `lock` is stale at `now`: older than `timeout`, or made on this
/// host (same host name) by a process that no longer exists.
pub fn is_stale(lock: &Lock, now: SystemTime, timeout: Duration) -> bool {
    let age = lock
        .time
        .to_system_time()
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or(Duration::ZERO);
    if age > timeout {
        return true;
    }
    if lock.hostname != host::hostname() {
        // Another machine's process cannot be checked from here.
        return false;
    }
    !process_exists(lock.pid)
}

/// True if a process with this ID exists on this host.
///
/// restic sends SIGHUP (which restic processes ignore); signal 0 checks the
/// same without sending anything. A process of another user answers with
/// EPERM and counts as existing. PID 0 and IDs beyond `pid_t` name no
/// single process.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 sends no signal; it only checks that
    // the process exists and may be signalled. `pid` is positive, so it
    // names one process, never a process group or "all processes". The
    // call reads and writes no memory of ours.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The one-line description of a lock holder used in
/// [`Error::Locked`]: who, since when, and the storage ID.
pub fn describe_holder(id: &Id, lock: &Lock, now: SystemTime) -> String {
    let age = lock
        .time
        .to_system_time()
        .and_then(|t| now.duration_since(t).ok())
        .unwrap_or(Duration::ZERO);
    // Whole seconds are plenty for a human; Go prints every digit.
    let age = Duration::from_secs(age.as_secs());
    format!(
        "PID {} on {} by {} (UID {}, GID {}), lock was created at {} ({} ago), storage ID {}",
        lock.pid,
        lock.hostname,
        lock.username,
        lock.uid,
        lock.gid,
        format_lock_time(&lock.time),
        go_duration_string(age),
        id.short()
    )
}

/// `2006-01-02 15:04:05` in the lock's own time zone, as restic prints it.
fn format_lock_time(t: &GoTime) -> String {
    let (y, mo, d, h, mi, s) = t.civil();
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

/// A lock for this process, with the current time.
fn new_lock(exclusive: bool) -> Lock {
    Lock {
        time: GoTime::now_local(),
        exclusive,
        hostname: host::hostname(),
        username: host::username(),
        pid: host::pid(),
        uid: host::uid(),
        gid: host::gid(),
    }
}

/// Sleeps for `d` in short slices, failing with [`Error::Interrupted`]
/// as soon as `cancel` (or the process-wide flag) asks to stop
/// (`--retry-lock` may wait for minutes).
fn sleep_unless_cancelled(d: Duration, cancel: &crate::Cancel) -> Result<()> {
    let until = Instant::now() + d;
    loop {
        cancel.check()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(50)));
    }
}

impl Repository {
    /// Locks the repository with restic's timings; `retry` is
    /// `--retry-lock`. See [`Repository::lock_with`].
    pub fn lock(&self, exclusive: bool, retry: Option<Duration>) -> Result<LockGuard> {
        let mut opts = LockOptions::new(exclusive);
        opts.retry = retry;
        self.lock_with(&opts)
    }

    /// Locks the repository. Fails with [`Error::Locked`] when another
    /// lock conflicts (after retrying for `opts.retry`, if given). The
    /// returned guard keeps the lock fresh and removes it when dropped.
    pub fn lock_with(&self, opts: &LockOptions) -> Result<LockGuard> {
        self.acquire(opts, true)
    }

    /// Like [`Repository::lock_with`], but returns as soon as the lock file
    /// is written, before the second look for conflicting locks that
    /// follows [`LockOptions::wait_before_check`]. The caller does its
    /// read-only work meanwhile and must call [`Repository::confirm_lock`]
    /// (for example on another thread) before it relies on that work or
    /// changes the repository; if that fails, the work is void. This saves
    /// the wait (200 ms) for commands that start with reading.
    pub fn lock_unconfirmed(&self, opts: &LockOptions) -> Result<LockGuard> {
        self.acquire(opts, false)
    }

    /// The second look for conflicting locks of a guard from
    /// [`Repository::lock_unconfirmed`]: waits until
    /// [`LockOptions::wait_before_check`] has passed since the lock was
    /// written, then fails with [`Error::Locked`] if another process locked
    /// the repository in a conflicting way at the same time. The guard
    /// should then be dropped, which removes its lock file.
    pub fn confirm_lock(&self, guard: &LockGuard, opts: &LockOptions) -> Result<()> {
        std::thread::sleep(opts.wait_before_check.saturating_sub(guard.age()));
        self.check_for_other_locks(&guard.lock(), Some(guard.id()), opts)
    }

    fn acquire(&self, opts: &LockOptions, confirm: bool) -> Result<LockGuard> {
        let Some(budget) = opts.retry.filter(|r| !r.is_zero()) else {
            return self.try_lock(opts, confirm);
        };
        let deadline = Instant::now() + budget;
        let mut sleep = opts.retry_sleep_start.min(budget);
        let mut announced = false;
        loop {
            match self.try_lock(opts, confirm) {
                Err(Error::Locked { .. }) => {}
                other => return other,
            }
            if !announced {
                if let Some(f) = opts.on_wait {
                    f(budget);
                }
                announced = true;
            }
            let now = Instant::now();
            if now >= deadline {
                // The budget is spent: one last attempt decides.
                return self.try_lock(opts, confirm);
            }
            sleep_unless_cancelled(sleep.min(deadline - now), &opts.cancel)?;
            sleep = (sleep * 2).min(opts.retry_sleep_max);
        }
    }

    /// One attempt: check, write, and (if `confirm`) wait and check again.
    /// A failed confirmation drops the guard, which removes the file.
    fn try_lock(&self, opts: &LockOptions, confirm: bool) -> Result<LockGuard> {
        let lock = new_lock(opts.exclusive);
        self.check_for_other_locks(&lock, None, opts)?;
        let id = self.save_unpacked(FileType::Lock, &lock.to_json())?;
        let guard = LockGuard::start(self, id, lock, opts);
        if confirm {
            self.confirm_lock(&guard, opts)?;
        }
        Ok(guard)
    }

    /// Fails with [`Error::Locked`] if a lock other than `own` conflicts
    /// with `mine`. Lock files that cannot be read are retried up to three
    /// times with growing waits, then their error is returned.
    fn check_for_other_locks(
        &self,
        mine: &Lock,
        own: Option<Id>,
        opts: &LockOptions,
    ) -> Result<()> {
        let mut compatible: HashSet<Id> = own.into_iter().collect();
        let mut delay = opts.retry_sleep_start;
        let mut last_error = None;
        for attempt in 0..4 {
            if attempt > 0 {
                std::thread::sleep(delay);
                delay *= 2;
            }
            last_error = None;
            // An exclusive lock must see every other lock: a garbled name
            // must not let prune run beside a backup.
            let others = if mine.exclusive {
                self.list_ids_strict(FileType::Lock)?
            } else {
                self.list_ids(FileType::Lock)?
            };
            for (id, size) in others {
                if size == 0 || compatible.contains(&id) {
                    continue;
                }
                let other = match self.load_lock(&id) {
                    Ok(l) => l,
                    // Removed since it was listed: it no longer counts.
                    Err(Error::Backend(e)) if e.is_not_found() => continue,
                    Err(e) => {
                        last_error = Some(e);
                        break;
                    }
                };
                if mine.exclusive || other.exclusive {
                    return Err(Error::Locked {
                        holder: describe_holder(&id, &other, SystemTime::now()),
                        exclusive: other.exclusive,
                    });
                }
                compatible.insert(id);
            }
            if last_error.is_none() {
                return Ok(());
            }
        }
        Err(last_error.expect("loop ends early unless a lock was unreadable"))
    }

    /// Reads and parses one lock file.
    pub fn load_lock(&self, id: &Id) -> Result<Lock> {
        let json = self.load_unpacked(FileType::Lock, id)?;
        Lock::from_json(&json).map_err(|e| crate::repository::bad(FileType::Lock, &id.to_hex(), e))
    }

    /// Every readable, non-empty lock file, and the errors of those that
    /// could not be read.
    pub fn locks(&self) -> Result<(Vec<LockEntry>, Vec<Error>)> {
        let mut found = Vec::new();
        let mut problems = Vec::new();
        for (id, size) in self.list_ids(FileType::Lock)? {
            if size == 0 {
                continue;
            }
            match self.load_lock(&id) {
                Ok(lock) => found.push(LockEntry { id, lock }),
                Err(Error::Backend(e)) if e.is_not_found() => {}
                Err(e) => problems.push(e),
            }
        }
        Ok((found, problems))
    }

    /// restic's `unlock`: removes stale locks, or with `remove_all` every
    /// lock file (also empty and unreadable ones). Returns the removed IDs.
    pub fn unlock(&self, remove_all: bool) -> Result<Vec<Id>> {
        self.unlock_with(remove_all, STALE_TIMEOUT)
    }

    /// [`Repository::unlock`] with a chosen stale timeout.
    pub fn unlock_with(&self, remove_all: bool, stale_timeout: Duration) -> Result<Vec<Id>> {
        let doomed: Vec<Id> = if remove_all {
            self.list_ids(FileType::Lock)?
                .into_iter()
                .map(|(id, _)| id)
                .collect()
        } else {
            let now = SystemTime::now();
            // Unreadable locks are left alone, as restic does.
            let (locks, _problems) = self.locks()?;
            locks
                .into_iter()
                .filter(|e| is_stale(&e.lock, now, stale_timeout))
                .map(|e| e.id)
                .collect()
        };
        let mut removed = Vec::new();
        for id in doomed {
            match self.backend().remove(FileType::Lock, &id.to_hex()) {
                Ok(()) => removed.push(id),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod required_tests;
#[cfg(test)]
mod tests;
