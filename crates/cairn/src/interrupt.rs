//! A process-wide "please stop" flag, set from a signal handler and checked
//! by long-running operations, which then fail with
//! [`Error::Interrupted`](crate::Error::Interrupted) so that locks and
//! temporary state are cleaned up on the way out. To stop one operation
//! among several, cancel its [`Cancel`](crate::Cancel) token instead;
//! every token also reports this flag.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks running operations to stop.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// True once a stop was requested.
pub fn is_requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// Fails with [`Error::Interrupted`](crate::Error::Interrupted) once a stop
/// was requested.
pub fn check() -> crate::Result<()> {
    if is_requested() {
        Err(crate::Error::Interrupted)
    } else {
        Ok(())
    }
}
