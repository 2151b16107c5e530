//! A lock whose second look for conflicting locks runs on its own thread,
//! so that `check`, `backup`, `forget` and `prune` work (read and plan)
//! during the lock's 200 ms wait.
//!
//! [`ConfirmingLock::start`] writes the lock file and returns at once; a
//! thread makes the second look ([`cairn::Repository::confirm_lock`]) and,
//! on a conflict, interrupts the running command. The command must call
//! [`ConfirmingLock::confirmed`] before it reports or commits anything;
//! `backup` does so through [`cairn::backup::BackupOptions::before_commit`]
//! with [`ConfirmingLock::commit_check`].

use crate::global::{lock_error, GlobalOptions};
use anyhow::{Context, Result};
use std::sync::{Arc, Condvar, Mutex};

/// The lock and the thread confirming it. Dropping it waits for that
/// thread, then removes the lock.
pub struct ConfirmingLock {
    outcome: Arc<Outcome>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Declared last: dropped (the lock file removed) after the thread.
    /// `None` only inside [`ConfirmingLock::release`].
    guard: Option<Arc<cairn::LockGuard>>,
}

impl ConfirmingLock {
    /// Takes the lock (with `--retry-lock`) and starts its confirmation.
    pub fn start(
        global: &GlobalOptions,
        repo: &cairn::Repository,
        exclusive: bool,
    ) -> Result<ConfirmingLock> {
        let guard = Arc::new(global.lock_unconfirmed(repo, exclusive)?);
        let outcome = Arc::new(Outcome::default());
        let (repo, opts) = (repo.clone(), global.lock_options(exclusive));
        let (done, held) = (Arc::clone(&outcome), Arc::clone(&guard));
        let thread = std::thread::Builder::new()
            .name("cairn-lock-confirm".into())
            .spawn(move || done.set(repo.confirm_lock(&held, &opts)))
            .context("cannot start the lock confirmation thread")?;
        Ok(ConfirmingLock {
            outcome,
            thread: Some(thread),
            guard: Some(guard),
        })
    }

    /// The lock, for the library calls that change the repository.
    pub fn guard(&self) -> &cairn::LockGuard {
        self.guard.as_ref().expect("held until released")
    }

    /// Waits for the confirmation; a conflict becomes restic's lock error
    /// (exit 11). Call it once, before the command's own result is used: a
    /// conflict is why that result may be an interruption.
    pub fn confirmed(&self) -> Result<()> {
        match self.outcome.wait_and_take_error() {
            Some(e) => Err(lock_error(e)),
            None => Ok(()),
        }
    }

    /// A check for the library to call before it commits: waits for the
    /// confirmation and fails (as an interruption) on a conflict, whose
    /// error [`ConfirmingLock::confirmed`] then reports.
    pub fn commit_check(&self) -> impl Fn() -> cairn::Result<()> + Send + Sync + 'static {
        let outcome = Arc::clone(&self.outcome);
        move || {
            if outcome.wait_failed() {
                Err(cairn::Error::Interrupted)
            } else {
                Ok(())
            }
        }
    }
}

impl ConfirmingLock {
    /// Waits for the confirmation thread, then removes the lock file,
    /// reporting a failure to remove it (dropping ignores that).
    pub fn release(mut self) -> Result<()> {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // The thread held the only other reference, and it has ended; if
        // another were left, its drop would remove the lock instead.
        match self.guard.take().map(Arc::try_unwrap) {
            Some(Ok(guard)) => Ok(guard.release()?),
            _ => Ok(()),
        }
    }
}

impl Drop for ConfirmingLock {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The outcome of the second look: `None` until it is made, then whether
/// it failed and (until taken) why.
#[derive(Default)]
struct Outcome {
    state: Mutex<Option<(bool, Option<cairn::Error>)>>,
    done: Condvar,
}

impl Outcome {
    /// Records the outcome; a conflict also interrupts the running command.
    fn set(&self, outcome: cairn::Result<()>) {
        if outcome.is_err() {
            cairn::interrupt::request();
        }
        let error = outcome.err();
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some((error.is_some(), error));
        self.done.notify_all();
    }

    fn wait(&self) -> std::sync::MutexGuard<'_, Option<(bool, Option<cairn::Error>)>> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while state.is_none() {
            state = self.done.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state
    }

    fn wait_failed(&self) -> bool {
        self.wait().as_ref().is_some_and(|(failed, _)| *failed)
    }

    fn wait_and_take_error(&self) -> Option<cairn::Error> {
        self.wait().as_mut().and_then(|(_, error)| error.take())
    }
}
