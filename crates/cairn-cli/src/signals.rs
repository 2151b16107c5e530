//! Signals: Ctrl-C and SIGTERM interrupt the running command, SIGHUP is
//! ignored, and every way out of the process removes the locks it holds.
//!
//! As restic does: SIGINT and SIGTERM end the command with exit code 130
//! after its locks are removed; SIGHUP is ignored (restic's `unlock` on
//! the same host probes lock owners with it, so it must not stop a backup).
//! SIGPIPE stays ignored (Rust's default), so that a socket closed by a
//! server is an I/O error the backend can report or retry, and a closed
//! standard output ends the command through [`crate::panics`].

use crate::exit::INTERRUPTED;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Set once SIGINT or SIGTERM arrived.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// How long a command may take to wind down after SIGINT/SIGTERM (its
/// loops see [`cairn::interrupt`] and unwind, removing temporary state)
/// before the process removes its locks and exits anyway. Short, because
/// every command must stop within a second; the locks are removed either
/// way (see [`forced_exit`]).
const GRACE: Duration = Duration::from_millis(700);

/// The longest the forced exit waits for the lock files to be removed (a
/// remote backend may hang); the process exits regardless.
const LOCK_REMOVAL_TIMEOUT: Duration = Duration::from_secs(5);

/// True once SIGINT or SIGTERM was received: whatever error the command
/// then ends with is the interruption.
pub fn was_interrupted() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// On SIGINT or SIGTERM: ask the running operation to stop, so that it
/// unwinds, removes its lock and exits with 130. A second signal, or a
/// command that has not stopped after [`GRACE`], ends the process at once
/// through [`forced_exit`], which still removes the locks. SIGHUP is
/// ignored.
pub fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if SIGNALLED.swap(true, Ordering::SeqCst) {
            forced_exit(INTERRUPTED);
        }
        // Not eprintln!: a closed stderr must not panic this thread.
        let _ = writeln!(std::io::stderr(), "signal interrupt received, cleaning up");
        cairn::interrupt::request();
        let waiter = std::thread::Builder::new()
            .name("cairn-interrupt-grace".into())
            .spawn(|| {
                std::thread::sleep(GRACE);
                forced_exit(INTERRUPTED);
            });
        if waiter.is_err() {
            forced_exit(INTERRUPTED);
        }
    });
    ignore_sighup();
}

/// Sets SIGHUP to "ignore". `ctrlc` (with its `termination` feature, for
/// SIGTERM) also catches SIGHUP; this replaces that. `cairn serve`
/// installs its own SIGHUP handler (htpasswd reload) later, over this.
pub fn ignore_sighup() {
    // SAFETY: signal(2) with SIG_IGN installs no handler code of ours; it
    // has no memory-safety preconditions and touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
    }
}

/// Removes every lock file this process holds (see
/// [`cairn::lock::release_all_held`]), waiting at most
/// [`LOCK_REMOVAL_TIMEOUT`]. For exits that skip destructors; harmless
/// when nothing is held.
pub fn release_locks() {
    let (tx, rx) = std::sync::mpsc::channel();
    let remover = std::thread::Builder::new()
        .name("cairn-lock-release".into())
        .spawn(move || {
            let _ = tx.send(cairn::lock::release_all_held());
        });
    let outcome = match remover {
        Ok(_) => rx.recv_timeout(LOCK_REMOVAL_TIMEOUT).ok(),
        Err(_) => Some(cairn::lock::release_all_held()),
    };
    let problem = match outcome {
        Some(Ok(_)) => return,
        Some(Err(e)) => format!("unable to remove lock: {e}"),
        None => "timed out removing the lock file".to_string(),
    };
    let _ = writeln!(std::io::stderr(), "{problem}");
}

/// Ends the process now with `code`, after removing the locks it holds.
/// Used where unwinding cannot be waited for: a second signal, the end of
/// the grace period, a panic on another thread.
pub fn forced_exit(code: i32) -> ! {
    release_locks();
    // The metrics file still tells of the run; no push (it may take long).
    crate::metrics::finish(code, false);
    std::process::exit(code)
}
