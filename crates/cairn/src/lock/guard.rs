//! A held lock and the thread that keeps it fresh.

use super::LockOptions;
use crate::repository::Repository;
use crate::{Error, Result};
use cairn_backend::{Backend, FileType};
use cairn_crypto::MasterKey;
use cairn_format::{encode_unpacked, GoTime, Id, Lock};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// A lock held in a repository.
///
/// While the guard lives, a background thread rewrites the lock file every
/// refresh interval (a new file with the new time, then the old one is
/// removed, so the ID changes). If no refresh succeeds for long enough
/// that other processes may consider the lock stale, the thread makes one
/// careful attempt (is our lock still there? write a new one, wait, is the
/// old one still there?) and otherwise gives the lock up:
/// [`LockGuard::is_valid`] turns false and [`LockGuard::check`] fails, and
/// long-running work must stop. Dropping the guard stops the thread and
/// removes the lock file.
pub struct LockGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// When the first lock file was written.
    written: Instant,
}

/// Why a [`LockGuard`] does not allow an operation (see
/// [`Error::LockNotSuitable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockProblem {
    /// The operation needs an exclusive lock; the guard is shared.
    NotExclusive,
    /// The guard is for another repository.
    OtherRepository,
    /// The lock was given up (it could not be refreshed in time).
    Expired,
}

impl std::fmt::Display for LockProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LockProblem::NotExclusive => "an exclusive lock",
            LockProblem::OtherRepository => "a lock on this repository, not on another one",
            LockProblem::Expired => {
                "a lock that is still held (this one could not be refreshed in time)"
            }
        })
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("id", &self.id())
            .field("exclusive", &self.is_exclusive())
            .field("unlocked", &self.is_unlocked())
            .field("valid", &self.is_valid())
            .finish_non_exhaustive()
    }
}

struct Shared {
    /// Which repository the lock is in: its location and config ID.
    location: String,
    config_id: String,
    exclusive: bool,
    /// A guard that holds no lock file ([`LockGuard::unlocked`]).
    unlocked: bool,
    backend: Arc<dyn Backend>,
    key: MasterKey,
    repo_version: u32,
    refresh_interval: Duration,
    refreshability_timeout: Duration,
    wait_before_check: Duration,
    valid: AtomicBool,
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    id: Id,
    lock: Lock,
    /// Wall-clock time of the last successful write (suspend-proof).
    last_refresh: SystemTime,
    /// When the last refresh was attempted.
    last_attempt: SystemTime,
    /// Why the last refresh failed, if it did.
    last_error: Option<String>,
    stop: bool,
    /// The lock file has been removed (or given up).
    released: bool,
}

impl LockGuard {
    pub(super) fn start(repo: &Repository, id: Id, lock: Lock, opts: &LockOptions) -> LockGuard {
        let now = SystemTime::now();
        let shared = Arc::new(Shared {
            location: repo.backend().location(),
            config_id: repo.config().id.clone(),
            exclusive: lock.exclusive,
            unlocked: false,
            backend: Arc::clone(repo.backend()),
            key: repo.key().clone(),
            repo_version: repo.config().version,
            refresh_interval: opts.refresh_interval,
            refreshability_timeout: opts.refreshability_timeout(),
            wait_before_check: opts.wait_before_check,
            valid: AtomicBool::new(true),
            state: Mutex::new(State {
                id,
                lock,
                last_refresh: now,
                last_attempt: now,
                last_error: None,
                stop: false,
                released: false,
            }),
            wake: Condvar::new(),
        });
        held_locks().push(Arc::downgrade(&shared));
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("cairn-lock-refresh".into())
            .spawn(move || worker.run())
            .ok();
        if thread.is_none() {
            // Without a thread the lock cannot be refreshed; it stays
            // valid for the stale timeout, which short commands fit into.
            shared.state().last_error = Some("cannot start the lock refresh thread".into());
        }
        LockGuard {
            shared,
            thread,
            written: Instant::now(),
        }
    }

    /// A guard that holds no lock at all, for a caller that has decided
    /// to change `repo` unlocked (restic's `--no-lock`, or a dry run that
    /// writes nothing): every operation accepts it as if it were an
    /// exclusive lock. Only use it when nothing else can use the
    /// repository at the same time; a forgotten lock is what the
    /// [`LockGuard`] parameters are there to prevent.
    pub fn unlocked(repo: &Repository) -> LockGuard {
        let now = SystemTime::now();
        let lock = super::new_lock(false);
        let shared = Arc::new(Shared {
            location: repo.backend().location(),
            config_id: repo.config().id.clone(),
            exclusive: false,
            unlocked: true,
            backend: Arc::clone(repo.backend()),
            key: repo.key().clone(),
            repo_version: repo.config().version,
            refresh_interval: super::REFRESH_INTERVAL,
            refreshability_timeout: super::STALE_TIMEOUT,
            wait_before_check: super::WAIT_BEFORE_CHECK,
            valid: AtomicBool::new(true),
            state: Mutex::new(State {
                id: Id([0; 32]),
                lock,
                last_refresh: now,
                last_attempt: now,
                last_error: None,
                stop: true,
                // Nothing to remove.
                released: true,
            }),
            wake: Condvar::new(),
        });
        LockGuard {
            shared,
            thread: None,
            written: Instant::now(),
        }
    }

    /// True if this is an exclusive lock (no other lock may coexist).
    pub fn is_exclusive(&self) -> bool {
        self.shared.exclusive
    }

    /// True for a guard from [`LockGuard::unlocked`], which holds no lock.
    pub fn is_unlocked(&self) -> bool {
        self.shared.unlocked
    }

    /// True if this guard belongs to `repo`: the same store location and
    /// the same repository config ID.
    pub fn belongs_to(&self, repo: &Repository) -> bool {
        self.shared.location == repo.backend().location()
            && self.shared.config_id == repo.config().id
    }

    /// Fails with [`Error::LockNotSuitable`] unless this guard lets
    /// `operation` change `repo`: it must belong to `repo`, still be held
    /// (see [`LockGuard::check`]) and, if `exclusive`, be exclusive. A
    /// guard from [`LockGuard::unlocked`] for `repo` passes.
    pub fn allows(
        &self,
        repo: &Repository,
        operation: &'static str,
        exclusive: bool,
    ) -> Result<()> {
        let problem = if !self.belongs_to(repo) {
            Some(LockProblem::OtherRepository)
        } else if self.shared.unlocked {
            None
        } else if !self.is_valid() {
            Some(LockProblem::Expired)
        } else if exclusive && !self.shared.exclusive {
            Some(LockProblem::NotExclusive)
        } else {
            None
        };
        match problem {
            Some(problem) => Err(Error::LockNotSuitable { operation, problem }),
            None => Ok(()),
        }
    }

    /// Marks the lock as given up, as a failed refresh would.
    #[cfg(test)]
    pub(crate) fn give_up_for_test(&self) {
        self.shared.valid.store(false, Ordering::SeqCst);
    }

    /// Time since the first lock file was written.
    pub(super) fn age(&self) -> Duration {
        self.written.elapsed()
    }

    /// The ID of the lock file currently held (it changes on refresh).
    pub fn id(&self) -> Id {
        self.shared.state().id
    }

    /// The lock as last written.
    pub fn lock(&self) -> Lock {
        self.shared.state().lock.clone()
    }

    /// False once the lock could not be refreshed in time and was given
    /// up; the repository must then no longer be changed.
    pub fn is_valid(&self) -> bool {
        self.shared.valid.load(Ordering::SeqCst)
    }

    /// Fails once the lock has been given up (see [`LockGuard::is_valid`]).
    pub fn check(&self) -> Result<()> {
        if self.is_valid() {
            return Ok(());
        }
        let state = self.shared.state();
        let why = state
            .last_error
            .clone()
            .unwrap_or_else(|| "refresh failed".to_string());
        Err(Error::Io {
            path: format!("locks/{}", state.id.to_hex()).into(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("failed to refresh lock in time: {why}"),
            ),
        })
    }

    /// Removes the lock now, reporting a failure to do so (dropping the
    /// guard does the same but cannot report).
    pub fn release(mut self) -> Result<()> {
        self.stop_thread();
        self.shared.remove_lock_file()
    }

    fn stop_thread(&mut self) {
        self.shared.state().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_thread();
        let _ = self.shared.remove_lock_file();
    }
}

/// Every lock this process holds (or held: dead entries are pruned as new
/// ones come), so that an exit that skips destructors can still remove
/// them (see [`release_all_held`]).
static HELD: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

fn held_locks() -> MutexGuard<'static, Vec<Weak<Shared>>> {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(|w| w.strong_count() > 0);
    held
}

/// Removes the lock file of every [`LockGuard`] still alive in this
/// process and stops their refreshes, for an exit that will not run the
/// guards' destructors (a forced exit after an interrupt, a panic, a
/// closed standard output). Guards dropped later find their lock already
/// released. Returns how many lock files were removed or already gone;
/// the first error, if a removal failed.
pub fn release_all_held() -> Result<usize> {
    let alive: Vec<Arc<Shared>> = held_locks().iter().filter_map(Weak::upgrade).collect();
    let mut first_error = None;
    let mut removed = 0;
    for shared in alive {
        shared.state().stop = true;
        shared.wake.notify_all();
        match shared.remove_lock_file() {
            Ok(()) => removed += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(removed),
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the mutex leaves plain data behind, which
        // is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The refresh loop. It wakes at least once a second (wall-clock
    /// checks survive suspend, where sleeping timers would not).
    fn run(&self) {
        let poll = Duration::from_secs(1).min(self.refresh_interval / 5);
        loop {
            let (due_refresh, overdue) = {
                let mut state = self.state();
                if state.stop {
                    return;
                }
                state = self
                    .wake
                    .wait_timeout(state, poll)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if state.stop {
                    return;
                }
                let now = SystemTime::now();
                let since = |t: SystemTime| now.duration_since(t).unwrap_or(Duration::ZERO);
                let overdue = since(state.last_refresh) > self.refreshability_timeout;
                let due = since(state.last_attempt) >= self.refresh_interval;
                if due {
                    state.last_attempt = now;
                }
                (due && !overdue, overdue)
            };
            if overdue {
                if let Err(e) = self.refresh_stale() {
                    self.state().last_error = Some(e.to_string());
                    self.valid.store(false, Ordering::SeqCst);
                    let _ = self.remove_lock_file();
                    return;
                }
            } else if due_refresh {
                if let Err(e) = self.refresh() {
                    self.state().last_error = Some(e.to_string());
                }
            }
        }
    }

    /// Writes `lock` with the current time; returns the new ID and lock.
    fn write_new(&self, mut lock: Lock) -> Result<(Id, Lock)> {
        lock.time = GoTime::now_local();
        let sealed = self
            .key
            .seal(&encode_unpacked(self.repo_version, &lock.to_json()));
        let id = Id::hash(&sealed);
        self.backend.write(FileType::Lock, &id.to_hex(), &sealed)?;
        Ok((id, lock))
    }

    /// Replaces the current lock file with the new one in the state and
    /// removes the old file.
    fn switch_to(&self, id: Id, lock: Lock) -> Result<()> {
        let old = {
            let mut state = self.state();
            if state.released {
                // Released while the new file was written (a forced
                // exit): the new file must not outlive the process.
                drop(state);
                return match self.backend.remove(FileType::Lock, &id.to_hex()) {
                    Err(e) if !e.is_not_found() => Err(e.into()),
                    _ => Ok(()),
                };
            }
            let old = state.id;
            state.id = id;
            state.lock = lock;
            state.last_refresh = SystemTime::now();
            state.last_error = None;
            old
        };
        match self.backend.remove(FileType::Lock, &old.to_hex()) {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// The regular refresh: new file first, then the old one goes.
    fn refresh(&self) -> Result<()> {
        let lock = self.state().lock.clone();
        let (id, lock) = self.write_new(lock)?;
        self.switch_to(id, lock)
    }

    /// The refresh of a lock others may already consider stale: only if
    /// our file still exists before and after writing the new one.
    fn refresh_stale(&self) -> Result<()> {
        let (old, lock) = {
            let state = self.state();
            (state.id, state.lock.clone())
        };
        if !self.exists(&old)? {
            return Err(lock_removed(&old));
        }
        let (id, lock) = self.write_new(lock)?;
        std::thread::sleep(self.wait_before_check);
        match self.exists(&old) {
            Ok(true) => self.switch_to(id, lock),
            Ok(false) => {
                let _ = self.backend.remove(FileType::Lock, &id.to_hex());
                Err(lock_removed(&old))
            }
            Err(e) => {
                let _ = self.backend.remove(FileType::Lock, &id.to_hex());
                Err(e)
            }
        }
    }

    fn exists(&self, id: &Id) -> Result<bool> {
        let name = id.to_hex();
        Ok(self
            .backend
            .list(FileType::Lock)?
            .iter()
            .any(|f| f.name == name))
    }

    /// Removes the current lock file, once.
    fn remove_lock_file(&self) -> Result<()> {
        let id = {
            let mut state = self.state();
            if state.released {
                return Ok(());
            }
            state.released = true;
            state.id
        };
        match self.backend.remove(FileType::Lock, &id.to_hex()) {
            Err(e) if !e.is_not_found() => Err(e.into()),
            _ => Ok(()),
        }
    }
}

fn lock_removed(id: &Id) -> Error {
    Error::Io {
        path: format!("locks/{}", id.to_hex()).into(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "lock file was removed in the meantime",
        ),
    }
}
