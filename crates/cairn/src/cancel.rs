//! [`Cancel`]: a token that stops one operation.
//!
//! Every long-running operation takes a token in its options
//! ([`BackupOptions::cancel`](crate::backup::BackupOptions::cancel),
//! [`RestoreOptions::cancel`](crate::restore::RestoreOptions::cancel), ...).
//! Cancelling it makes that operation, and only that one, fail with
//! [`Error::Interrupted`](crate::Error::Interrupted) at its next check,
//! cleaning up as for Ctrl-C: no snapshot is written for an unfinished
//! backup, the repository stays consistent (at most unreferenced packs
//! remain) and locks are released. The process-wide flag of
//! [`interrupt`](crate::interrupt) still stops every operation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation token, cheap to clone: clones share one flag, so a clone
/// kept by the caller cancels the operation that got the other.
///
/// `Default` is a fresh token nobody has cancelled.
///
/// ```
/// let cancel = cairn::Cancel::new();
/// let opts = cairn::CheckOptions { cancel: cancel.clone(), ..Default::default() };
/// // From another thread, or a signal handler of the program:
/// cancel.cancel();
/// assert!(opts.cancel.is_cancelled());
/// assert!(matches!(opts.cancel.check(), Err(cairn::Error::Interrupted)));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
}

impl Cancel {
    /// A fresh token, not cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the operation holding this token (or a clone) to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// True once this token was cancelled, or a process-wide stop was
    /// requested with [`interrupt::request`](crate::interrupt::request):
    /// the operation holding it should stop.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || crate::interrupt::is_requested()
    }

    /// Fails with [`Error::Interrupted`](crate::Error::Interrupted) once
    /// [`is_cancelled`](Self::is_cancelled).
    pub fn check(&self) -> crate::Result<()> {
        if self.is_cancelled() {
            Err(crate::Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag_and_tokens_are_independent() {
        let a = Cancel::new();
        let b = Cancel::new();
        let a2 = a.clone();
        assert!(a.check().is_ok() && b.check().is_ok());
        a2.cancel();
        assert!(a.is_cancelled());
        assert!(matches!(a.check(), Err(crate::Error::Interrupted)));
        // Unless the whole process is being stopped (another test may do
        // that), the other token is untouched.
        if !crate::interrupt::is_requested() {
            assert!(!b.is_cancelled());
        }
    }
}
